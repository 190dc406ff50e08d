"""The run dir's .hydra/ record, written by the run itself once every check has passed.

Hydra's own writing is off (hydra.output_subdir=null): it would write before the checks and
overwrite a crashed run's record on resume. Each earlier attempt's record is kept under
.hydra/attempt-<n>/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

RECORD_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")


def write_hydra_record(cfg: DictConfig, run_dir: Path, hydra_cfg: Any = None) -> None:
    """Write config.yaml, hydra.yaml and overrides.yaml under run_dir/.hydra/
    (hydra_cfg: the job's Hydra config; by default the running job's)."""
    if hydra_cfg is None:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
    record = run_dir / ".hydra"
    record.mkdir(parents=True, exist_ok=True)
    _keep_previous_attempt(record)
    OmegaConf.save(cfg, record / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), record / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(list(hydra_cfg.overrides.task)), record / "overrides.yaml")


def _keep_previous_attempt(record: Path) -> None:
    """Move an earlier attempt's files to .hydra/attempt-<n>/ (n counts from 1)."""
    present = [name for name in RECORD_FILES if (record / name).exists()]
    if not present:
        return
    attempt = record / f"attempt-{len(list(record.glob('attempt-*'))) + 1}"
    attempt.mkdir()
    for name in present:
        shutil.move(str(record / name), str(attempt / name))
