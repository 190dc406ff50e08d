"""+sweep=slurm in-process: the launcher's shape follows the hardware preset, a GPU preset
passes the submit-side checks on a GPU-less login node (the machine checks run in the job), and
a job that ended without a result is a `cancelled` / `failed` row of the sweep summary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from framework.cli.preflight import preflight
from framework.errors import UserError
from framework.launchers.remote import runs_elsewhere
from framework.launchers.slurm import SLURM_LAUNCHER, register_resolvers
from framework.launchers.slurm_outcome import record_unfinished
from framework.sweeps.summary import write_summary
from tests.helpers import CONF, compose_config

register_resolvers()
compose_config()  # registers the schemas and the plugins' methods, as train.py does
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a GPU-less login node")


def launcher(*overrides: str) -> dict[str, object]:
    cfg = preflight(CONF, "train", ["model=tiny", "+sweep=slurm", *overrides], multirun=True)
    assert runs_elsewhere(cfg) == "slurm"
    node = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(node, dict)
    return {k: node[k] for k in ("nodes", "tasks_per_node", "gpus_per_node", "signal_delay_s")}


@no_gpu
def test_a_gpu_preset_is_submitted_from_a_gpu_less_node_with_one_task_per_gpu() -> None:
    shape = launcher("hardware=multi_gpu", "hardware.devices=4")
    assert shape == {"nodes": 1, "tasks_per_node": 4, "gpus_per_node": 4, "signal_delay_s": 120}


@no_gpu
def test_without_slurm_the_same_preset_is_refused_here() -> None:
    with pytest.raises(UserError, match="needs a CUDA GPU and none is visible here"):
        preflight(CONF, "train", ["model=tiny", "hardware=multi_gpu"], multirun=False)


@pytest.mark.parametrize(
    ("overrides", "nodes", "tasks", "gpus"),
    [
        ((), 1, 1, 0),  # hardware=cpu
        (("hardware=cpu_ddp",), 1, 2, 0),
        (("hardware=multi_gpu",), 1, 1, 1),  # devices: auto is unknown on the login node
        (("hardware=multi_node", "hardware.num_nodes=2", "hardware.devices=8"), 2, 8, 8),
        (("hardware=fsdp", "hardware.devices=2"), 1, 2, 2),
    ],
)
def test_launcher_shape_follows_the_hardware_preset(
    overrides: tuple[str, ...], nodes: int, tasks: int, gpus: int
) -> None:
    shape = launcher(*overrides)
    assert (shape["nodes"], shape["tasks_per_node"], shape["gpus_per_node"]) == (nodes, tasks, gpus)


@pytest.mark.parametrize(
    ("state", "status", "marker"),
    [("CANCELLED by 0", "cancelled", "CANCELLED"), ("NODE_FAIL", "failed", "FAILED")],
)
def test_a_job_that_ended_without_a_result_is_a_row_with_its_status_and_reason(
    tmp_path: Path, state: str, status: str, marker: str
) -> None:
    trial = tmp_path / "1"  # never started: no run dir yet, the launcher writes its overrides
    log_file = str(tmp_path / ".submitit" / "7_1" / "7_1_0_log.out")
    assert record_unfinished(trial, ["method=dora", "model=tiny"], "7_1", state, log_file) == status
    assert (trial / marker).is_file()
    (row,) = write_summary(tmp_path)
    assert row["status"] == status and row["overrides"] == "method=dora model=tiny"
    assert row["reason"].startswith(f"SLURM job 7_1 ended {state} without a result")
    assert "7_1_0_log.out" in row["reason"] and row["val_loss_after"] == ""


def test_optuna_on_slurm_composes_the_search_with_the_slurm_launcher() -> None:
    cfg = preflight(CONF, "train", ["model=tiny", "+sweep=[optuna,on_slurm]"], multirun=True)
    assert runs_elsewhere(cfg) == "slurm"
    assert str(cfg.hydra.launcher._target_) == SLURM_LAUNCHER
    assert "Optuna" in str(cfg.hydra.sweeper._target_)
    assert set(cfg.hydra.sweeper.params) == {"optim.lr", "method.r"}  # no grid from +sweep=slurm
