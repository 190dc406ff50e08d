"""Launchers that write each run or trial as a job for another platform instead of running it."""

# No `from __future__ import annotations`: Hydra execs plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)
PREFIX = "hydra_plugins.hydratune_launchers.launchers"


@dataclass
class AzureMLLauncherConf:
    """hydra/launcher=azureml: one Azure ML command job per run (framework/launchers/azureml.py)."""

    _target_: str = f"{PREFIX}.AzureMLLauncher"
    compute: str = "gpu-cluster"
    experiment_name: str = "hydratune"
    # A CUDA base image; the Python stack comes from pyproject.toml (conda.yaml beside the job).
    image: str = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest"
    process_count_per_instance: Any = "${hardware.devices}"
    instance_count: Any = "${hardware.num_nodes}"
    environment_variables: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # null: submit exactly when a workspace is configured; false: write and validate only.
    submit: Any = None
    subscription_id: Any = None
    resource_group: Any = None
    workspace_name: Any = None


@dataclass
class KaitoLauncherConf:
    """hydra/launcher=kaito: a tuning Workspace + ConfigMap per run (framework/launchers/kaito)."""

    _target_: str = f"{PREFIX}.KaitoLauncher"
    instance_type: str = "Standard_NC24ads_A100_v4"
    namespace: str = "default"
    name: Any = None  # the Workspace's name; null: run.name (+ "-<trial>" in a sweep)
    # null: from model.hub_id (microsoft/Phi-3-mini-4k-instruct -> phi-3-mini-4k-instruct)
    preset: Any = None
    output_dir: str = "/mnt/results"
    # Where data and the adapter travel: container images in a registry (or input_urls).
    registry: str = "myregistry.azurecr.io"
    tag: str = "0.0.1"
    input_urls: list[str] = field(default_factory=list)
    image_pull_secret: Any = None
    image_push_secret: str = "registry-push-secret"  # the name of a Kubernetes secret


ConfigStore.instance().store(
    group="hydra/launcher", name="azureml", node=AzureMLLauncherConf, provider="hydratune"
)
ConfigStore.instance().store(
    group="hydra/launcher", name="kaito", node=KaitoLauncherConf, provider="hydratune"
)


class _WritingLauncher(Launcher):
    """Compose each job like Hydra's basic launcher, then write it instead of running it."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context

    def write(self, cfg: DictConfig, overrides: list[str], job_dir: Path, root: Path) -> str:
        raise NotImplementedError

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from framework.errors import UserError, exit_with

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        root = Path(os.environ.get("HYDRATUNE_ROOT", str(self.config.hydra.runtime.cwd)))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        runs = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.id = idx
                cfg.hydra.job.num = idx
                if len(job_overrides) > 1 and "name" in cfg.hydra.launcher:
                    # trials may share run.name (method.r=4,8): Kubernetes names must not
                    cfg.hydra.launcher.name = cfg.hydra.launcher.name or f"{cfg.run.name}-{idx}"
            job_dir = sweep_dir / str(cfg.hydra.sweep.subdir)
            log.info("#%d : %s", idx, " ".join(filter_overrides(overrides)))
            try:
                written = self.write(cfg, list(overrides), job_dir, root)
            except UserError as error:
                exit_with(error)
            ret = JobReturn()
            ret.overrides = list(overrides)
            ret.cfg = cfg
            ret.working_dir = str(job_dir)
            ret.task_name = str(cfg.hydra.job.name)
            ret.status = JobStatus.COMPLETED
            ret.return_value = written
            runs.append(ret)
        return runs


def _say(lines: list[str]) -> None:
    for line in lines:
        print(line, flush=True)


class AzureMLLauncher(_WritingLauncher):
    """Each run/trial -> azureml-job.yaml (load_job-validated); submitted when asked."""

    def write(self, cfg: DictConfig, overrides: list[str], job_dir: Path, root: Path) -> str:
        from framework.launchers import azureml

        path = azureml.write_job(cfg, overrides, job_dir, root)
        lines = [f"azureml: wrote {path} (load_job: valid)"]
        lines += [f"  not carried over: {note}" for note in azureml.not_carried_over(cfg, root)]
        if azureml.submits(cfg.hydra.launcher):
            name, url = azureml.submit(cfg, path)
            lines.append(f"  submitted: {name} {url}")
        _say(lines)
        return str(path)


class KaitoLauncher(_WritingLauncher):
    """Each run/trial -> kaito-tuning.yaml (ConfigMap + Workspace) and its data image steps."""

    def write(self, cfg: DictConfig, overrides: list[str], job_dir: Path, root: Path) -> str:
        from framework.launchers.kaito_output import write_tuning

        written = write_tuning(cfg, job_dir)
        lines = [f"kaito: wrote {written.manifest} (Kaito's rules: satisfied)"]
        lines += [f"  next: {step}" for step in written.steps]
        lines += [f"  not carried over: {note}" for note in written.not_carried_over]
        _say(lines)
        return str(written.manifest)
