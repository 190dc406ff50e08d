"""A create-job request checked as train.py checks a command line: the OpenAI fields, the
hydratune extension (method, model, hardware, dataset, overrides) and the overrides they become
(the method type's own checks: framework.service.method_types)."""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path
from typing import Any

from framework.service.errors import api_error
from framework.service.method_types import COMMON, MethodType, setting_overrides

COMPOSE_LOCK = threading.Lock()  # Hydra's global state: one composition at a time
HYDRATUNE_KEYS = ("method", "model", "hardware", "dataset", "overrides")
# Keys the service owns: where the run goes and what it reads.
RESERVED = ("hydra", "paths", "dataset.path", "dataset.source", "run.resume", "run.dry_run")
SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
RANGES = {name: (spec.low, spec.high) for name, spec in COMMON.items()}  # the console's hints


def model_presets(config_dir: Path) -> list[str]:
    """The model presets (conf/model/*.yaml): the base models a job can start from."""
    return sorted(p.stem for p in (config_dir / "model").glob("*.yaml"))


def dataset_presets(config_dir: Path) -> list[str]:
    """The dataset presets (conf/dataset/*.yaml) a job can train on without a file: those whose
    source is a bundled corpus (file/jsonl/disk/hub presets need a dataset.path)."""
    return list(preset_formats(config_dir))


def preset_formats(config_dir: Path) -> dict[str, str]:
    """Each dataset preset a job can train on without a file, and its dataset.format."""
    import yaml

    from framework.config.schema import BUNDLED_CORPORA, DatasetConfig

    found = {}
    for path in sorted((config_dir / "dataset").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        source = raw["source"] if "source" in raw else DatasetConfig.source
        if source in BUNDLED_CORPORA:
            found[path.stem] = str(raw["format"] if "format" in raw else DatasetConfig.format)
    return found


def hydratune_extension(body: dict[str, Any]) -> dict[str, Any]:
    """The `hydratune` extension of the request: method, model, hardware, overrides."""
    ext = body.get("hydratune") or {}
    if not isinstance(ext, dict) or set(ext) - set(HYDRATUNE_KEYS):
        unknown = sorted(set(ext) - set(HYDRATUNE_KEYS)) if isinstance(ext, dict) else ext
        raise api_error(
            400,
            f"hydratune: unknown keys {unknown} (allowed: {', '.join(HYDRATUNE_KEYS)})",
            "hydratune",
        )
    overrides = ext.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise api_error(
            400, "hydratune.overrides must be a list of key=value strings", "hydratune.overrides"
        )
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "dataset":
            raise api_error(
                400,
                "hydratune.overrides: 'dataset' is chosen by training_file or hydratune.dataset, "
                "not by an override",
                "hydratune.overrides",
            )
        if any(key == r or key.startswith(r + ".") or key.startswith(r + "/") for r in RESERVED):
            raise api_error(
                400,
                f"hydratune.overrides: '{key}' is set by the service (the job's run dir and "
                "training file), not by a request",
                "hydratune.overrides",
            )
    return {**ext, "overrides": overrides}


def compose_check(config_dir: Path, overrides: list[str]) -> Any:
    """train.py's preflight in-process: the composed config, or UserError."""
    from framework.cli.preflight import check_overrides

    with COMPOSE_LOCK:
        return check_overrides(config_dir, "train", overrides)


def dataset_overrides(path: str | None, preset: str | None, kind: MethodType) -> list[str]:
    """The dataset and task part of a job's command line: the uploaded file (read in the method
    type's file format), or the dataset preset; the method type's task, if it names one."""
    task = [f"task={kind.task}"] if kind.task else []
    if preset:
        return [f"dataset={preset}", *task]
    return ["dataset=file", f"dataset.path={path}", f"dataset.format={kind.file_format}", *task]


def training_data(
    body: dict[str, Any], ext: dict[str, Any], presets: list[str]
) -> tuple[str | None, str | None]:
    """(training_file, dataset preset) of a request: exactly one of the two, each checked."""
    given_file, preset = body.get("training_file"), ext.get("dataset")
    allowed = ", ".join(presets)
    if given_file and preset is not None:
        raise api_error(
            400,
            "give either training_file or hydratune.dataset, not both (a job trains on an "
            "uploaded file or on a dataset preset)",
            "hydratune.dataset",
        )
    if preset is None:
        if not given_file:
            raise api_error(
                400,
                f"'training_file' is required, or a dataset preset in hydratune.dataset "
                f"(allowed: {allowed})",
                "training_file",
            )
        return required_field(body, "training_file"), None
    if preset not in presets:
        raise api_error(
            400,
            f"hydratune.dataset={preset!r} is not a dataset preset a job can train on without a "
            f"file (allowed: {allowed}; file-based presets read an uploaded training_file)",
            "hydratune.dataset",
        )
    return None, str(preset)


def build_overrides(
    config_dir: Path,
    preset: str,
    dataset: list[str],
    ext: dict[str, Any],
    job: tuple[MethodType, dict[str, Any], int],
    run_dir: Path,
) -> tuple[list[str], Any]:
    """The train.py command line of a job (`dataset`: from dataset_overrides; `job`: its method
    type, hyperparameters and seed) and its composed config, checked as the CLI checks it."""
    kind, hp, seed = job
    line = [f"model={preset}", *dataset]
    line += [f"{k}={ext[k]}" for k in ("method", "hardware") if ext.get(k)]
    if hp["n_epochs"] != "auto":
        line += [f"trainer.max_epochs={hp['n_epochs']}", "trainer.max_steps=-1"]
    if hp["batch_size"] != "auto":
        line.append(f"dataset.batch_size={hp['batch_size']}")
    line += setting_overrides(kind, hp, ext["overrides"])
    line += [f"run.seed={seed}", "trainer.enable_progress_bar=false", *ext["overrides"]]
    line.append(f"hydra.run.dir={run_dir}")
    cfg = compose_check(config_dir, line)
    if hp["learning_rate_multiplier"] != "auto":
        _multiplier_needs_a_number(cfg.optim.lr)
        lr = float(cfg.optim.lr) * float(hp["learning_rate_multiplier"])
        line.insert(-1, f"optim.lr={lr!r}")
        cfg = compose_check(config_dir, line)
    return line, cfg


def _multiplier_needs_a_number(lr: Any) -> None:
    """learning_rate_multiplier scales a number: optim.lr=auto (the LR finder) has none yet."""
    from framework.config.strict import is_auto_lr

    if is_auto_lr(lr):
        raise api_error(
            400,
            "hyperparameters.learning_rate_multiplier needs a numeric optim.lr; with "
            "optim.lr=auto the LR finder picks the rate: leave the multiplier at auto",
            "hyperparameters.learning_rate_multiplier",
        )


def required_field(body: dict[str, Any], key: str) -> str:
    """A required, non-empty string field of the request body (400 naming it otherwise)."""
    if not isinstance(body.get(key), str) or not body[key]:
        raise api_error(400, f"'{key}' is required", key)
    return str(body[key])


def checked_request(
    body: dict[str, Any], ext: dict[str, Any], presets: list[str]
) -> tuple[str, str | None, int]:
    """The base model preset, the suffix and the seed of a create request, each checked."""
    required_field(body, "model")
    if body.get("validation_file"):
        raise api_error(
            400,
            "validation_file is not supported yet: hydratune holds out dataset.val_fraction of "
            "the training file (set it in hydratune.overrides)",
            "validation_file",
        )
    preset = str(ext.get("model") or body["model"])
    if preset not in presets:
        raise api_error(
            400,
            f"model='{preset}' is not a base model here (allowed: {', '.join(presets)})",
            "model",
            "model_not_found",
        )
    suffix = body.get("suffix")
    if suffix is not None and not (isinstance(suffix, str) and SUFFIX.match(suffix)):
        raise api_error(400, "suffix: 1 to 40 characters of letters, digits, - and _", "suffix")
    seed = body.get("seed")
    if seed is None:
        seed = random.randint(0, 2**31 - 1)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise api_error(400, f"seed={seed!r} must be an integer from 0 to 2147483647", "seed")
    return preset, suffix, seed
