"""One writer per run dir (an exclusive lock naming its holder) and the .hydra/ record of
every attempt, written only after the checks pass."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework.errors import UserError
from framework.training.run_lock import exclusive_run_dir
from tests.helpers import ROOT


@pytest.mark.e2e
def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from framework.training.run_lock import exclusive_run_dir
                with exclusive_run_dir(Path({str(tmp_path)!r})):
                    print("locked", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=f"in use by pid {holder.pid} on "):
            with exclusive_run_dir(tmp_path):
                pytest.fail("the second writer must not get the run dir")
    finally:
        holder.communicate("\n", timeout=30)
    with exclusive_run_dir(tmp_path):  # released when the holder ends
        assert (tmp_path / ".lock").read_text().startswith(f"pid {os.getpid()} ")


def test_ranks_launched_by_lightning_join_without_locking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with exclusive_run_dir(tmp_path):
        monkeypatch.setenv("LOCAL_RANK", "1")
        with exclusive_run_dir(tmp_path):  # a launched rank does not take the lock
            pass


def test_each_attempt_keeps_its_hydra_record(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from framework.training.run_record import write_hydra_record

    first = OmegaConf.create({"overrides": {"task": ["method.r=4"]}})
    write_hydra_record(OmegaConf.create({"run": {"seed": 1}}), tmp_path, first)
    second = OmegaConf.create({"overrides": {"task": ["method.r=8"]}})
    write_hydra_record(OmegaConf.create({"run": {"seed": 2}}), tmp_path, second)
    record = tmp_path / ".hydra"
    assert OmegaConf.load(record / "overrides.yaml") == ["method.r=8"]
    assert OmegaConf.load(record / "attempt-1" / "overrides.yaml") == ["method.r=4"]
    assert OmegaConf.load(record / "attempt-1" / "config.yaml").run.seed == 1
    assert OmegaConf.load(record / "config.yaml").run.seed == 2
    assert OmegaConf.load(record / "hydra.yaml").hydra.overrides.task == ["method.r=8"]
