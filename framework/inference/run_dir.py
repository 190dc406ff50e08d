"""Open a finished run dir: its resolved config and where its weights are (no torch)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.config import schema
from framework.errors import UserError
from framework.tasks.registry import CAUSAL_LM

# Groups whose schema defaults fill keys added since the run was written (older run dirs).
GROUP_SCHEMAS: dict[str, type] = {
    "model": schema.ModelConfig,
    "dataset": schema.DatasetConfig,
    "task": schema.TaskConfig,
    "trainer": schema.TrainerConfig,
    "run": schema.RunConfig,
}


# Keys older versions wrote that this one reads (or safely ignores).
OLDER_KEYS = frozenset({"dataset.task"})


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

    @property
    def task(self) -> str:
        return str(self.cfg.task.name)

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
    cfg = read_run_config(config)
    run = RunDir(path.resolve(), with_current_defaults(cfg))
    if not run.has_adapter and not (run.model_dir / "config.json").is_file():
        raise UserError(
            f"run_dir='{run_dir}': neither adapter/ nor model/ holds weights "
            "(did the run finish? its weights are written at the end)"
        )
    if not (run.tokenizer_dir / "tokenizer_config.json").is_file():
        raise UserError(f"run_dir='{run_dir}': tokenizer/ is missing (did the run finish?)")
    return run


def read_run_config(config: Path) -> DictConfig:
    """config.yaml of a run: readable, a run config, and only keys this version knows (a run
    from a newer version is refused naming both versions and the keys it does not know)."""
    from framework import __version__

    try:
        cfg = OmegaConf.load(config)
    except Exception as error:  # yaml's and OmegaConf's parse errors have no common base
        where = getattr(getattr(error, "problem_mark", None), "line", None)
        line = f":{where + 1}" if isinstance(where, int) else ""
        reason = str(error).splitlines()[0]
        raise UserError(f"{config}{line}: not readable YAML ({reason})") from None
    if not isinstance(cfg, DictConfig) or "model" not in cfg or "method" not in cfg:
        raise UserError(f"{config}: not a hydratune run config (no model and method)")
    written = str(OmegaConf.select(cfg, "hydratune.version", default="an older version"))
    unknown = [
        f"{group}.{key}"
        for group, group_schema in GROUP_SCHEMAS.items()
        if group in cfg and isinstance(cfg[group], DictConfig)
        for key in cfg[group]
        if key not in {f.name for f in dataclasses.fields(group_schema)}
        and f"{group}.{key}" not in OLDER_KEYS
    ]
    if unknown:
        raise UserError(
            f"{config}: written by hydratune {written}; this is {__version__}, which does not "
            f"know {', '.join(unknown)}. Use hydratune {written} for this run dir"
        )
    return cfg


def with_current_defaults(cfg: DictConfig) -> DictConfig:
    """The run's config with today's schema defaults under it: keys added to a group since
    the run was written take their defaults; every value the run recorded wins."""
    layers = []
    for group, group_schema in GROUP_SCHEMAS.items():
        defaults = OmegaConf.structured(group_schema)
        if group == "task" and "task" not in cfg:  # before tasks: the dataset named it
            defaults.name = str(cfg.dataset.get("task", CAUSAL_LM))
        layers.append(OmegaConf.create({group: OmegaConf.to_container(defaults)}))
    merged = OmegaConf.merge(*layers, cfg)
    if not isinstance(merged, DictConfig):
        raise UserError("config.yaml is not a mapping")
    return merged
