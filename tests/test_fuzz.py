"""Fuzz layer: generated overrides (from the schema's own keys) and generated rows (for every
data format) go through the same checks as a real run. Each ends in "accepted" or a UserError
(exit 2), never another exception, and a refusal writes nothing."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.cli.preflight import preflight
from framework.config import schema
from framework.data.formats import DATA_FORMATS, RowSpec
from framework.data.load import SourceSpec, load_rows
from framework.errors import UserError
from tests.helpers import ROOT, compose_config

# long: hundreds of generated examples (kept out of make test-fast)
pytestmark = pytest.mark.e2e

CONF = ROOT / "conf"
GROUPS = {
    "model": schema.ModelConfig,
    "dataset": schema.DatasetConfig,
    "task": schema.TaskConfig,
    "trainer": schema.TrainerConfig,
    "optim": schema.OptimConfig,
    "logger": schema.LoggerConfig,
    "run": schema.RunConfig,
}
METHOD_KEYS = ("r", "alpha", "dropout", "target_modules", "bias", "use_rslora")
# Keys left alone: a dry run prints instead of refusing; resume paths and the root are the host's.
FIXED = ["model=tiny"]  # preflight only checks: nothing trains, whatever is accepted
SKIPPED = {"run.dry_run", "run.resume", "paths.root_dir"}


def schema_keys() -> list[str]:
    """Every leaf key of the typed groups (the user-facing surface of the schema)."""
    keys = [f"method.{k}" for k in METHOD_KEYS]
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            if dataclasses.is_dataclass(hint) or "RandomInitConfig" in str(hint):
                continue
            keys.append(f"{group}.{f.name}")
    keys += [f"model.random_init.{f.name}" for f in dataclasses.fields(schema.RandomInitConfig)]
    return [k for k in keys if k not in SKIPPED]


KEYS = schema_keys()
compose_config([])  # registers the schemas and every method, as train.py does before checking


def test_the_fixed_overrides_alone_are_accepted() -> None:
    preflight(CONF, "train", FIXED, multirun=False)  # so a refusal below is the fuzz's doing


SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "null", "nan", "inf", "-inf", "''", "[]", "{}", "[1,2]"]),
    st.sampled_from(["abc", "lora", "phi3", "auto", "cpu", "${nope}", "${optim.lr}", "x" * 300]),
    st.text(alphabet="abcXYZ019_./-", min_size=1, max_size=12),
)


@st.composite
def override(draw: st.DrawFn) -> str:
    """One override: a value, a deletion, an addition or an interpolation for a schema key."""
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(["set", "set", "set", "add", "delete", "interpolate"]))
    if kind == "delete":
        return f"~{key}"
    if kind == "add":
        return f"+{key}{draw(st.sampled_from(['', '_x', 's']))}={draw(SCALARS)}"
    if kind == "interpolate":
        return f"{key}=${{{draw(st.sampled_from(KEYS))}}}"
    return f"{key}={draw(SCALARS)}"


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(override(), min_size=1, max_size=3))
def test_generated_overrides_are_accepted_or_refused_cleanly(overrides: list[str]) -> None:
    try:
        preflight(CONF, "train", [*FIXED, *overrides], multirun=False)
    except UserError as error:
        assert str(error).strip(), overrides  # a refusal says why
    # any other exception fails the example: hypothesis shrinks it to the smallest override


def record_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def data_row(draw: st.DrawFn, fmt: str) -> dict[str, Any]:
    """A row for `fmt`: its own fields with arbitrary JSON values, sometimes plausible ones."""
    fields = DATA_FORMATS[fmt].fields or ("messages", "prompt", "completion")
    row: dict[str, Any] = {}
    for name in fields:
        if draw(st.booleans()):
            row[name] = draw(record_values())
        else:
            row[name] = draw(st.sampled_from(PLAUSIBLE.get(name, ["x"])))
    return row


PLAUSIBLE: dict[str, list[Any]] = {
    "messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]],
    "answers": [{"text": ["ab"], "answer_start": [0]}, [{"text": "ab", "answer_start": 0}]],
    "context": ["ab cd"],
    "tokens": [["a", "b"]],
    "tags": [["O", "B-X"]],
}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(fmt=st.sampled_from(sorted(DATA_FORMATS)), data=st.data())
def test_generated_rows_parse_or_stop_at_file_and_line(
    fmt: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rows = data.draw(st.lists(data_row(fmt), min_size=1, max_size=4))
    path = tmp_path_factory.mktemp("rows") / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    try:
        loaded = load_rows(SourceSpec(source="file", path=str(path)), RowSpec(format=fmt))
    except UserError as error:
        assert f"{path}:" in str(error), str(error)
        return
    assert len(loaded.rows) == len(rows)


def test_a_refused_override_writes_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text("{}")
    with pytest.raises(UserError):
        preflight(CONF, "train", [*FIXED, "optim.eps=nan", f"hydra.run.dir={run_dir}"], False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json"]
    assert compose_config(["optim.lr=0.1"]).optim.lr == 0.1  # the fixture composes after it
