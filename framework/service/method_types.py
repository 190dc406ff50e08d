"""OpenAI's fine-tuning method types (method.type): what each runs, reads and takes, checked.

One table (METHOD_TYPES): each type's task, the dataset formats and training files it reads and
the hyperparameters it takes; the checks of a create request against it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.config.task_checks import PREFERENCE_RANGES
from framework.errors import UserError
from framework.service.errors import api_error
from framework.tasks.registry import PREFERENCE_TASKS, TASKS


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: "auto" or a number in range. `key` is the config key it sets (empty
    for the common ones, which build_overrides turns into trainer, dataset and optim keys)."""

    low: float
    high: float
    integer: bool = False
    low_inclusive: bool = True
    high_inclusive: bool = True
    key: str = ""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if (self.integer and not isinstance(value, int)) or not math.isfinite(value):
            return False
        above = self.low <= value if self.low_inclusive else self.low < value
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below

    def allowed(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low_inclusive and self.high_inclusive:
            return f"{kind} from {self.low} to {self.high}, or 'auto'"
        low = f"{'at least' if self.low_inclusive else 'greater than'} {self.low:g}"
        high = f"{'at most' if self.high_inclusive else 'below'} {self.high:g}"
        return f"{kind} {low} and {high}, or 'auto'"


# Every method type's: OpenAI's n_epochs / batch_size / learning_rate_multiplier.
COMMON = {
    "n_epochs": Hyperparameter(1, 50, integer=True),
    "batch_size": Hyperparameter(1, 1024, integer=True),
    "learning_rate_multiplier": Hyperparameter(1e-6, 100.0),
}
_BETA_LOW, _BETA_HIGH, _BETA_LOW_IN = PREFERENCE_RANGES["beta"]
BETA = Hyperparameter(
    _BETA_LOW, _BETA_HIGH, False, _BETA_LOW_IN, high_inclusive=False, key="task.preference.beta"
)
SUPERVISED_TASKS = tuple(name for name in TASKS if name not in PREFERENCE_TASKS)


@dataclass(frozen=True)
class MethodType:
    """One `method.type`: the task its jobs run, how its training files are read, and the
    hyperparameters `method.<type>.hyperparameters` may hold."""

    name: str
    task: str | None  # task=... on its jobs' command line; None: the dataset preset's own task
    file_format: str  # dataset.format of an uploaded training file ("auto": detected per row)
    pairs: bool  # its training files hold preference pairs (framework.data.formats.holds_pairs)
    rows: str  # its training rows, as error messages describe them
    hyperparameters: dict[str, Hyperparameter]

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks its jobs may run."""
        return (self.task,) if self.task else SUPERVISED_TASKS

    @property
    def formats(self) -> tuple[str, ...]:
        """The dataset formats those tasks learn from (framework.tasks.registry)."""
        return tuple(dict.fromkeys(f for task in self.tasks for f in TASKS[task].formats))


METHOD_TYPES: dict[str, MethodType] = {
    kind.name: kind
    for kind in (
        MethodType(
            "supervised",
            task=None,
            file_format="auto",
            pairs=False,
            rows='chat rows ({"messages": [...]}), prompt/completion or instruction rows',
            hyperparameters=COMMON,
        ),
        MethodType(
            "dpo",
            task="dpo",
            file_format="preference",
            pairs=True,
            rows='preference pairs ({"input": {"messages": [...]}, "preferred_output": [...], '
            '"non_preferred_output": [...]}, or prompt, chosen and rejected)',
            hyperparameters={**COMMON, "beta": BETA},
        ),
    )
}
DEFAULT_TYPE = "supervised"


def _object(value: Any, param: str) -> dict[str, Any]:
    """A JSON object of the request (null: empty), or 400 naming it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise api_error(400, f"{param} must be an object", param)
    return value


def method_type_of(body: dict[str, Any]) -> tuple[MethodType, dict[str, Any]]:
    """The request's method type and its `method.<type>.hyperparameters` (400 for an unknown
    type or a key that does not belong to it)."""
    method = _object(body.get("method"), "method")
    name = method.get("type", DEFAULT_TYPE)
    if not isinstance(name, str) or name not in METHOD_TYPES:
        raise api_error(
            400,
            f"method.type={name!r} is not supported (allowed: {', '.join(METHOD_TYPES)})",
            "method.type",
        )
    extra = sorted(set(method) - {"type", name})
    if extra:
        message = f"method: {extra} do not apply to method.type={name} (allowed: type, {name})"
        raise api_error(400, message, "method")
    settings = _object(method.get(name), f"method.{name}")
    if set(settings) - {"hyperparameters"}:
        unknown = sorted(set(settings) - {"hyperparameters"})
        message = f"method.{name}: unknown keys {unknown} (allowed: hyperparameters)"
        raise api_error(400, message, f"method.{name}")
    hp = _object(settings.get("hyperparameters"), f"method.{name}.hyperparameters")
    return METHOD_TYPES[name], hp


def hyperparameters_of(body: dict[str, Any]) -> tuple[MethodType, dict[str, Any]]:
    """The method type and its checked hyperparameters, from `method.<type>.hyperparameters`
    or (the common ones) the older top-level `hyperparameters`; "auto" keeps the presets'."""
    kind, nested = method_type_of(body)
    top = _object(body.get("hyperparameters"), "hyperparameters")
    inner = f"method.{kind.name}.hyperparameters"
    sources = (("hyperparameters", top, COMMON), (inner, nested, kind.hyperparameters))
    for where, given, allowed in sources:
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise api_error(
                400,
                f"{where}: unknown hyperparameters {unknown} (allowed: {', '.join(allowed)})",
                where,
            )
    values: dict[str, Any] = {}
    for name, spec in kind.hyperparameters.items():
        param = f"{inner}.{name}" if name in nested else f"hyperparameters.{name}"
        if name in nested and name in top and nested[name] != top[name]:
            message = f"hyperparameters.{name}={top[name]!r} and {param}={nested[name]!r} differ"
            raise api_error(400, message + ": give one", param, "invalid_hyperparameters")
        value = nested.get(name, top.get(name, "auto"))
        if value is not None and value != "auto" and not spec.accepts(value):
            message = f"{param}={value!r} is invalid: {spec.allowed()}"
            raise api_error(400, message, param, "invalid_hyperparameters")
        values[name] = "auto" if value is None else value
    return kind, values


def setting_overrides(kind: MethodType, hp: dict[str, Any], overrides: list[str]) -> list[str]:
    """The command-line keys of the type's own hyperparameters (task.preference.beta=...); a
    hyperparameter given twice (also by hydratune.overrides) is refused, as is an override of
    the task group: the type's task, or one it does not run."""
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    for override in overrides:
        key, _, task = override.partition("=")
        if key.lstrip("+~") != "task":
            continue
        if kind.task:
            raise api_error(
                400,
                f"hydratune.overrides: 'task' is chosen by method.type={kind.name} "
                f"(task={kind.task}), not by an override",
                "hydratune.overrides",
            )
        task_check(kind, task)
    line = []
    for name, spec in kind.hyperparameters.items():
        if not spec.key or hp[name] == "auto":
            continue
        if spec.key in keys:
            raise api_error(
                400,
                f"hydratune.overrides sets {spec.key}, which method.{kind.name}.hyperparameters."
                f"{name}={hp[name]!r} sets too: give one of them",
                "hydratune.overrides",
            )
        line.append(f"{spec.key}={hp[name]!r}")
    return line


def task_check(kind: MethodType, task: str) -> None:
    """A task chosen by an override must be one the method type runs (a preset's task is
    checked by its format: preset_check)."""
    if task in kind.tasks:
        return
    other = next((k.name for k in METHOD_TYPES.values() if task in k.tasks), None)
    hint = f": use method.type={other}" if other else ""
    raise api_error(
        400,
        f"the job would run task={task}, which method.type={kind.name} does not run "
        f"(allowed: {', '.join(kind.tasks)}){hint}",
        "method.type",
    )


def preset_check(kind: MethodType, preset: str, formats: dict[str, str]) -> None:
    """A dataset preset's format must be one the method type trains on (400 naming both, and the
    presets it can train on)."""
    fmt = formats[preset]
    if fmt in kind.formats:
        return
    allowed = [name for name, f in formats.items() if f in kind.formats]
    other = next((k.name for k in METHOD_TYPES.values() if fmt in k.formats), None)
    raise api_error(
        400,
        f"hydratune.dataset={preset!r} holds dataset.format={fmt} rows"
        + (f" (for method.type={other})" if other else "")
        + f", which method.type={kind.name} does not train on; its presets: {', '.join(allowed)}",
        "hydratune.dataset",
    )


def file_type(path: Path) -> MethodType:
    """The method type an uploaded file is for, by its first record: preference pairs
    (framework.data.formats.holds_pairs) or not; its rows are read in that type's file_format."""
    from framework.data.formats import holds_pairs
    from framework.data.readers import read_file

    first = next(iter(read_file(str(path))), None)
    pairs = first is not None and holds_pairs(first)
    return next(kind for kind in METHOD_TYPES.values() if kind.pairs == pairs)


def file_check(kind: MethodType, path: Path, shown_as: str, file_id: str) -> None:
    """The training file must hold the rows the method type trains on."""
    try:
        other = file_type(path)
    except UserError as error:
        raise api_error(400, str(error).replace(str(path), shown_as), "training_file") from None
    if other.pairs == kind.pairs:
        return
    raise api_error(
        400,
        f"training_file {file_id} ('{shown_as}') holds {other.rows}, for method.type="
        f"{other.name}; method.type={kind.name} trains on {kind.rows}",
        "training_file",
        "invalid_training_file",
    )


def method_object(kind: MethodType, hp: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """The job's `method` as OpenAI shows it; a hyperparameter that sets a config key shows the
    composed run's value (an "auto" beta: the beta the run uses)."""
    from omegaconf import OmegaConf

    resolved = {
        name: OmegaConf.select(cfg, spec.key) if spec.key else hp[name]
        for name, spec in kind.hyperparameters.items()
    }
    return {"type": kind.name, kind.name: {"hyperparameters": resolved}}
