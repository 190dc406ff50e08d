"""Open a finished run dir: its resolved config and where its weights are (no torch)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.errors import UserError


@dataclass(frozen=True)
class RunDir:
    """A run dir written by train.py: config.yaml, adapter/ or model/, tokenizer/, metrics."""

    path: Path
    cfg: DictConfig

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / "tokenizer"

    @property
    def has_adapter(self) -> bool:
        return (self.adapter_dir / "adapter_config.json").is_file()

    @property
    def method_name(self) -> str:
        return str(self.cfg.method.name)

    def metrics(self) -> dict[str, Any]:
        """metrics.json of the run (empty if the run wrote none)."""
        file = self.path / "metrics.json"
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def open_run_dir(run_dir: str) -> RunDir:
    """Check that run_dir holds a finished run; a UserError names what is missing."""
    path = Path(run_dir).expanduser()
    hint = "(a run dir is the folder train.py prints at the end as 'run dir: ...')"
    if not path.is_dir():
        raise UserError(f"run_dir='{run_dir}': no such folder {hint}")
    config = path / "config.yaml"
    if not config.is_file():
        raise UserError(f"run_dir='{run_dir}': no config.yaml there, not a finished run {hint}")
    cfg = OmegaConf.load(config)
    if not isinstance(cfg, DictConfig) or "model" not in cfg or "method" not in cfg:
        raise UserError(f"run_dir='{run_dir}': config.yaml is not a hydratune run config")
    run = RunDir(path.resolve(), cfg)
    if not run.has_adapter and not (run.model_dir / "config.json").is_file():
        raise UserError(
            f"run_dir='{run_dir}': neither adapter/ nor model/ holds weights "
            "(did the run finish? its weights are written at the end)"
        )
    if not (run.tokenizer_dir / "tokenizer_config.json").is_file():
        raise UserError(f"run_dir='{run_dir}': tokenizer/ is missing (did the run finish?)")
    return run
