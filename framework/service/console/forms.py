"""The new-job form, generated from the typed schemas: every method's own config fields (type,
default, declared range), the presets of each group, run-level keys; and back to overrides."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.config.schema import DatasetConfig, OptimConfig, RunConfig, TrainerConfig

# Run-level keys the form offers (group dataclass, field); defaults and types come from the schema.
RUN_FIELDS: tuple[tuple[str, type, str], ...] = (
    ("trainer", TrainerConfig, "max_steps"),
    ("optim", OptimConfig, "lr"),
    ("optim", OptimConfig, "scheduler"),
    ("optim", OptimConfig, "warmup_steps"),
    ("dataset", DatasetConfig, "max_length"),
    ("dataset", DatasetConfig, "val_fraction"),
    ("dataset", DatasetConfig, "limit"),
    ("run", RunConfig, "checkpoint_every_n_steps"),
)
PLAIN = re.compile(r"^[A-Za-z0-9_./:+-]*$")


@dataclass(frozen=True)
class Field:
    """One input: its override key, HTML id, kind (int/float/bool/str/list), default, range."""

    key: str
    kind: str
    default: Any
    optional: bool
    low: float | None = None
    high: float | None = None
    scope: str = ""  # a method's name: its fields' ids are unique on the page

    @property
    def html_id(self) -> str:
        return "f-" + (self.scope + "-" if self.scope else "") + self.key.replace(".", "-")

    @property
    def shown_default(self) -> str:
        return render_value(self.default)

    @property
    def hint(self) -> str:
        parts = [{"int": "integer", "float": "number", "bool": "true or false"}.get(self.kind, "")]
        parts[0] = parts[0] or ("comma-separated list" if self.kind == "list" else "text")
        if self.low is not None and self.high is not None:
            parts.append(f"from {self.low:g} to {self.high:g}")
        if self.optional:
            parts.append("empty: none")
        return ", ".join(parts) + f"; default {self.shown_default or '(none)'}"


def render_value(value: Any) -> str:
    """A default as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _kind(annotation: Any) -> tuple[str, bool]:
    """(kind, optional) of a dataclass field's resolved annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = type(None) in typing.get_args(annotation)
    if optional and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return "list", optional
    for kind in (bool, int, float, str):
        if annotation is kind:
            return kind.__name__, optional
    return "str", optional


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def schema_fields(
    prefix: str, config_class: type, names: tuple[str, ...] | None, ranges: dict[str, Any]
) -> list[Field]:
    """Fields of a schema dataclass (all but `name`, or the given names) as form inputs."""
    hints = typing.get_type_hints(config_class)
    found = []
    for field in dataclasses.fields(config_class):
        if field.name == "name" or (names is not None and field.name not in names):
            continue
        kind, optional = _kind(hints[field.name])
        if kind not in ("int", "float", "bool", "str", "list"):
            continue
        low, high = ranges.get(field.name, (None, None))
        found.append(Field(f"{prefix}.{field.name}", kind, _default(field), optional, low, high))
    return found


def method_fields() -> dict[str, list[Field]]:
    """Every registered method's own fields (its config_class), with its declared ranges."""
    from framework.methods.registry import get_method, method_names

    out = {}
    for name in method_names():
        cls = get_method(name).cls
        ranges = dict(getattr(cls, "ranges", {}) or {})
        fields = schema_fields("method", cls.config_class, None, ranges)
        out[name] = [dataclasses.replace(f, scope=name) for f in fields]
    return out


def run_fields(composed: Any) -> list[Field]:
    """The run-level keys of RUN_FIELDS, typed by their schema, defaulted as a file job
    composes (a preset such as dataset=file may set its own value over the schema's)."""
    from omegaconf import OmegaConf

    found = []
    for group, cls, name in RUN_FIELDS:
        field = schema_fields(group, cls, (name,), {})[0]
        default = OmegaConf.select(composed, field.key)
        found.append(dataclasses.replace(field, default=default))
    return found


def composed_defaults(config_dir: Path) -> Any:
    """The train config composed for a file job (`dataset=file`), unresolved, unchecked."""
    from hydra import compose, initialize_config_dir

    from framework.service.job_requests import COMPOSE_LOCK

    with COMPOSE_LOCK, initialize_config_dir(str(config_dir), version_base="1.3"):
        return compose("train", overrides=["dataset=file"])


def presets(project_root: Path) -> dict[str, list[tuple[str, str]]]:
    """(name, description) of the model and hardware presets on the search path, and of the
    dataset presets a job can train on without a file (the API's hydratune.dataset list) in
    the rows the console's jobs train on (method.type supervised: no preference presets)."""
    from framework.cli.list_presets import list_presets
    from framework.service.job_requests import preset_formats
    from framework.service.method_types import DEFAULT_TYPE, METHOD_TYPES

    trains_on = METHOD_TYPES[DEFAULT_TYPE].formats
    formats = preset_formats(project_root / "conf")
    without_file = {name for name, fmt in formats.items() if fmt in trains_on}
    found: dict[str, list[tuple[str, str]]] = {"model": [], "hardware": [], "dataset": []}
    for preset in list_presets(project_root, []):
        if preset.group == "dataset" and preset.name not in without_file:
            continue
        if preset.group in found:
            found[preset.group].append((preset.name, preset.description))
    return found


def override_value(field: Field, text: str) -> str | None:
    """The override value of a submitted input; None when it is the default (nothing to set).
    Values go to Hydra as typed: the schema check names any that does not fit."""
    text = text.strip()
    if text == field.shown_default:
        return None
    if text == "":
        return "null" if field.optional or field.kind == "list" and not field.default else "''"
    if field.kind == "list":
        items = [item.strip() for item in text.split(",") if item.strip()]
        return "[" + ",".join(quoted(item) for item in items) + "]"
    return quoted(text) if field.kind == "str" else text


def quoted(text: str) -> str:
    """A string value for a Hydra override, quoted when it holds special characters."""
    if PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def form_overrides(fields: list[Field], form: dict[str, str]) -> list[str]:
    """key=value overrides for every input whose value differs from its schema default."""
    line = []
    for field in fields:
        value = override_value(field, form.get(field.key, field.shown_default))
        if value is not None:
            line.append(f"{field.key}={value}")
    return line
