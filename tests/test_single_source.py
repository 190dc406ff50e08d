"""Lists and defaults are declared once: the tables and everything derived from them agree.

framework/tasks/registry.py (TASKS) and framework/data/formats.py (DATA_FORMATS) are the only
places task and format names are declared; a new task or format missing a piece (fields, a
parser, a sample row, a pairing, a preset, an encoder, an objective) fails here. The second half
checks that no YAML preset restates a schema default (the schema is the one place for those).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from framework.cli.tool_configs import TOOL_SCHEMAS
from framework.config import schema
from framework.config.schema import CHOICES, DatasetConfig, register_schemas
from framework.data.formats import (
    AUTO_DETECTED,
    COLUMN_FIELDS,
    DATA_FORMATS,
    FORMAT_NAMES,
    RowSpec,
    parse,
)
from framework.data.readers import Record
from framework.data.rows import Row
from framework.methods.discovery import discover_methods
from framework.methods.registry import get_method, method_names
from framework.models.architectures import ARCHITECTURES, ENCODER_ARCHITECTURES, MODULE_SETS
from framework.tasks.registry import CAUSAL_LM, TASK_NAMES, TASKS
from tests.helpers import ROOT

CONF = ROOT / "conf"
register_schemas()
discover_methods(ROOT / "plugins")

# One well-formed record per format: a new format needs an example its parser accepts.
SAMPLE_RECORDS: dict[str, dict[str, Any]] = {
    "auto": {"prompt": "2+2?", "completion": "4"},
    "chat": {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    },
    "instruction": {"instruction": "Define cat.", "input": "", "output": "A small feline."},
    "prompt_completion": {"prompt": "2+2?", "completion": "4"},
    "text": {"text": "Some domain text."},
    "classification": {"text": "to run fast", "label": "verb"},
    "token_classification": {"tokens": ["in", "France"], "tags": ["O", "B-LOC"]},
    "qa": {
        "context": "France is FR.",
        "question": "Code?",
        "answers": [{"text": "FR", "answer_start": 10}],
    },
    "translation": {"source": "cat", "target": "chat"},
    "preference": {"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."},
    "kto": {"prompt": "Hi?", "completion": "Hello!", "label": True},
}


# --- tasks and formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_every_format_has_fields_a_parser_and_a_sample(fmt: str) -> None:
    spec = DATA_FORMATS[fmt]
    assert spec.name == fmt
    if fmt == "auto":  # no fields of its own: it detects one of these per row
        assert set(AUTO_DETECTED) <= set(FORMAT_NAMES)
    else:
        assert spec.fields, f"format {fmt} declares no column fields"
    assert callable(spec.parse), f"format {fmt} has no parser"
    assert fmt in SAMPLE_RECORDS, f"format {fmt} has no sample record in this test"
    row = parse(Record(f"sample:{fmt}", SAMPLE_RECORDS[fmt]), RowSpec(format=fmt))
    assert isinstance(row, Row)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_every_format_is_learnt_by_a_task(fmt: str) -> None:
    learners = [name for name, task in TASKS.items() if fmt in task.formats]
    assert learners, f"format {fmt} is paired with no task (framework/tasks/registry.py)"


def test_formats_scored_by_generation_are_known() -> None:
    from framework.tasks.generation import SCORE_KINDS, SCORERS

    for spec in DATA_FORMATS.values():
        assert spec.scorer in (*SCORE_KINDS, ""), f"format {spec.name}: scorer {spec.scorer!r}"
    assert set(SCORERS) == {name for name, spec in DATA_FORMATS.items() if spec.scorer}


def test_config_choices_and_columns_come_from_the_tables() -> None:
    assert CHOICES["dataset"]["format"] == FORMAT_NAMES
    assert CHOICES["task"]["name"] == TASK_NAMES
    assert CHOICES["model"]["architecture"] == ARCHITECTURES == tuple(MODULE_SETS)
    assert set(ENCODER_ARCHITECTURES) <= set(ARCHITECTURES)
    every_field = {f for spec in DATA_FORMATS.values() for f in spec.fields}
    assert set(COLUMN_FIELDS) == every_field
    assert tuple(DatasetConfig().columns) == COLUMN_FIELDS
    assert schema.TaskConfig().name == CAUSAL_LM in TASKS
    assert schema.DatasetConfig().format in FORMAT_NAMES


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_has_its_pieces(task: str) -> None:
    from framework.data import encoders
    from framework.tasks.objectives import Objective, build_objective, objective_class

    spec = TASKS[task]
    assert spec.name == task
    assert spec.formats and set(spec.formats) <= set(FORMAT_NAMES), spec.formats
    assert spec.labels in ("", "classes", "tags")
    from framework.data import preference_encoder

    encoder = getattr(encoders, spec.encoder, None) or getattr(
        preference_encoder, spec.encoder, None
    )
    assert isinstance(encoder, type), f"task {task}: no encoder {spec.encoder} in framework.data"
    assert all(hasattr(encoder, m) for m in ("encode", "collate"))
    assert issubclass(objective_class(task), Objective)
    assert objective_class(task).__name__ == spec.objective
    labels = ("O", "B-LOC", "I-LOC") if spec.labels else ()
    assert isinstance(build_objective(task, labels), objective_class(task))
    own_metrics = objective_class(task).compute is not Objective.compute
    assert spec.generative or own_metrics, f"task {task}: its objective has no metrics of its own"
    preset = CONF / "task" / f"{task}.yaml"
    assert preset.is_file(), f"task {task} has no preset {preset.relative_to(ROOT)}"
    assert OmegaConf.load(preset).name == task


def test_task_heads_and_peft_types_exist() -> None:
    import transformers
    from peft import TaskType

    for task in TASKS.values():
        assert hasattr(transformers, task.head), task
        assert task.peft_task_type in TaskType.__members__, task
    assert sorted(p.stem for p in (CONF / "task").glob("*.yaml")) == sorted(TASK_NAMES)


def test_builders_make_each_tasks_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.builders.data import build_encoder, label_names
    from framework.data import encoders

    dataset = OmegaConf.structured(DatasetConfig(name="x"))
    for name, task in TASKS.items():
        labels = label_names(name, ["B-X"], [])
        assert bool(labels) == bool(task.labels)
        if task.generative:
            continue  # CausalEncoder reads the tokenizer's chat template (tests/test_data_formats)
        monkeypatch.setattr(encoders, task.encoder, lambda *args, n=task.encoder: (n, args))
        built: Any = build_encoder(name, dataset, tokenizer="tokenizer", labels=labels)
        expected = ("tokenizer", dataset.max_length, labels) if labels else ("tokenizer", 128)
        assert built == (task.encoder, expected)


def test_every_method_names_registered_tasks() -> None:
    for name in method_names():
        task_types = get_method(name).cls.capabilities.task_types
        assert set(task_types) <= set(TASK_NAMES), f"method {name}: {task_types}"


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


@pytest.mark.parametrize("dataset", sorted(p.stem for p in (CONF / "dataset").glob("*.yaml")))
def test_every_dataset_preset_pairs_a_format_its_task_learns(dataset: str) -> None:
    cfg = _compose([f"dataset={dataset}"])
    task, fmt = str(cfg.task.name), str(cfg.dataset.format)
    assert fmt in TASKS[task].formats, f"dataset={dataset}: task {task} cannot learn {fmt}"


# --- defaults declared once -----------------------------------------------------------------------

# Keys a group preset states even when they equal the schema default: what the preset is (its
# name, description and its picks among a group's enumerated choices: format, backend, ...).
IDENTITY_KEYS = {"name", "description"}
# Restatements that mean something, by (file relative to conf/, key or key prefix): why.
JUSTIFIED: dict[tuple[str, str], str] = {
    ("method/qlora_r64.yaml", "alpha"): "the QLoRA paper's alpha, whatever lora's default becomes",
    ("model/tiny.yaml", "random_init"): "a test model states its whole shape",
    ("model/tiny_bert.yaml", "random_init"): "a test model states its whole shape",
}
EXEMPT_GROUPS = {"hardware", "hydra"}  # hardware: the hardware package rework; hydra: Hydra's own
GROUP_SCHEMAS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else getattr(schema, str(f.type))
    for f in dataclasses.fields(schema.TrainConfig)
    if f.name != "method"
}


def _method_schema(node: DictConfig) -> type:
    bases = [d for d in node.get("defaults", []) if isinstance(d, str) and d in method_names()]
    name = bases[0] if bases else str(node.name)
    return get_method(name).cls.config_class  # type: ignore[no-any-return]


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [
            leaf
            for key, value in node.items()
            if key != "defaults"
            for leaf in _leaves(value, f"{path}.{key}" if path else str(key))
        ]
    return [(path, node)]


def _preset_files() -> list[tuple[str, type]]:
    files = [("train.yaml", schema.TrainConfig)]
    files += [(f"{tool}.yaml", cls) for tool, cls in TOOL_SCHEMAS.items()]
    for path in sorted(CONF.glob("*/*.yaml")):
        group = path.parent.name
        if group in EXEMPT_GROUPS:
            continue
        node = OmegaConf.load(path)
        cls = _method_schema(node) if group == "method" else GROUP_SCHEMAS[group]
        files.append((f"{group}/{path.name}", cls))
    return files


def restated_defaults(path: Path, cls: type) -> list[str]:
    """Keys of a YAML file whose value equals the schema's default (MISSING counts as one)."""
    relative = path.relative_to(CONF) if path.is_relative_to(CONF) else path.name
    group = path.parent.name
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    defaults = OmegaConf.to_container(OmegaConf.structured(cls), resolve=False)
    found = []
    for key, value in _leaves(raw):
        if key in IDENTITY_KEYS or key in CHOICES.get(group, {}):
            continue
        if any((str(relative), prefix) in JUSTIFIED for prefix in (key, key.split(".")[0])):
            continue
        default: Any = defaults
        for part in key.split("."):
            if not isinstance(default, dict) or part not in default:
                default = KeyError
                break
            default = default[part]
        if default is KeyError:
            continue
        if isinstance(default, DictConfig | ListConfig):
            default = OmegaConf.to_container(default)
        if value == default or (value == "???" and default == MISSING):
            found.append(f"{relative}: {key}: {value!r} is the schema default")
    return found


PRESET_FILES = _preset_files()


@pytest.mark.parametrize(("relative", "cls"), PRESET_FILES, ids=[r for r, _ in PRESET_FILES])
def test_no_preset_restates_a_schema_default(relative: str, cls: type) -> None:
    assert restated_defaults(CONF / relative, cls) == []


def test_the_default_run_warms_up_as_before() -> None:
    """The default run's warm-up is the schema's 2 (adamw.yaml used to say it); sgd keeps 0."""
    assert _compose([]).optim.warmup_steps == 2
    assert _compose(["optim=sgd"]).optim.warmup_steps == 0


def test_every_preset_group_is_listed() -> None:
    from framework.cli.list_presets import GROUPS

    groups = {p.name for p in CONF.iterdir() if p.is_dir()} - {"hydra"}
    assert groups <= set(GROUPS), groups - set(GROUPS)


def test_restated_defaults_are_found(tmp_path: Path) -> None:
    """The check itself: a preset repeating a default is caught."""
    probe = tmp_path / "probe.yaml"
    probe.write_text("name: adamw\nlr: 2.0e-4\nlr_extra: 1\nscheduler: linear\n")
    found = restated_defaults(probe, schema.OptimConfig)
    assert found == ["probe.yaml: lr: 0.0002 is the schema default"]


MODEL_PRESETS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def shape_problems(model: DictConfig) -> list[str]:
    """A model preset must tell its shape: a `shape`, random_init, or a local config.json
    (framework.hardware.memory reads it from there; no table elsewhere describes presets)."""
    from framework.hardware.memory import model_shape
    from framework.models.architectures import REFUSED_MODEL_TYPES
    from framework.models.checks import _local_folder

    if str(model.architecture) in REFUSED_MODEL_TYPES:
        return []
    folder = _local_folder(model)
    config = folder / "config.json" if folder else None
    shape = model_shape(model, ROOT / ".cache", config if config and config.is_file() else None)
    if shape is None:
        return [f"conf/model/{model.name}.yaml tells no shape: add `shape:` (config.json values)"]
    return []


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_every_model_preset_tells_its_shape(preset: str) -> None:
    assert shape_problems(_compose([f"model={preset}"]).model) == []


def test_a_preset_without_a_shape_is_caught() -> None:
    model = _compose(["model=phi3_mini", "model.shape=null"]).model
    assert shape_problems(model) == [
        "conf/model/phi3_mini.yaml tells no shape: add `shape:` (config.json values)"
    ]
