"""The before-training metrics of methods that change their base in place (full fine-tuning,
freeze, trained biases, prompts): cached under paths.cache_dir, keyed by everything that
decides them, so only the first run of a model x data x evaluation setting pays a validation
pass before step 1. Methods whose adapted model starts as its base
(Method.starts_as_base) measure them after training with the adapter disabled instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

FOLDER = "before_metrics"
FORMAT = 1  # bump when what the cached numbers mean changes
# Config groups that decide the base's numbers on the held-out rows, and the keys in them that
# do not (words, where the cache lives, loader workers).
KEYED_GROUPS = ("model", "method", "hardware", "dataset", "task")
UNKEYED = {"description", "cache", "num_workers"}
KEYED_TRAINER = ("limit_val_batches", "deterministic")


def before_key(cfg: DictConfig, data_key: str) -> str:
    """sha256 of the settings that decide the before-training metrics, the tokenized data's
    own cache key (rows x encoder) and the library versions that compute them."""
    import peft
    import torch
    import transformers

    keyed: dict[str, Any] = {}
    for group in KEYED_GROUPS:
        resolved: Any = OmegaConf.to_container(cfg[group], resolve=True)
        keyed[group] = {k: v for k, v in resolved.items() if k not in UNKEYED}
    keyed["seed"] = int(cfg.run.seed)  # a new head or prompt is initialised from it
    keyed["trainer"] = {k: cfg.trainer[k] for k in KEYED_TRAINER}  # plain values
    keyed["data"] = data_key
    keyed["versions"] = [FORMAT, torch.__version__, transformers.__version__, peft.__version__]
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:32]


def load_before(cache_dir: Path, key: str) -> dict[str, float] | None:
    """The cached before-training metrics, or None (not cached yet)."""
    path = cache_dir / FOLDER / f"{key}.json"
    if not path.is_file():
        return None
    found = json.loads(path.read_text())
    log.info("before-training metrics: cache hit %s", path)
    return {str(k): float(v) for k, v in found.items()}


def store_before(cache_dir: Path, key: str, metrics: dict[str, float]) -> Path:
    """Write the before-training metrics for later runs of the same setting (atomically)."""
    folder = cache_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    log.info("before-training metrics: cache miss, saved %s", path)
    return path
