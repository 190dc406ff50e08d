"""Every preset of every group composes with the defaults and passes validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from framework.config.schema import register_schemas
from framework.config.validate import all_problems
from framework.methods.discovery import discover_methods
from framework.methods.registry import method_names
from tests.helpers import ROOT

CONF = ROOT / "conf"
Compose = Callable[..., DictConfig]
register_schemas()
discover_methods(ROOT / "plugins")

SKIP_GROUPS = {"hydra", "method"}  # hydra is Hydra's own; methods come from the registry
FILE_PRESETS = sorted(
    (p.parent.name, p.stem)
    for p in CONF.glob("*/*.yaml")
    if p.parent.name not in SKIP_GROUPS and not p.stem.startswith("_")  # _*: bases, not presets
)


# Presets that need a matching partner: encoders, head and preference tasks need a dataset of
# that task.
PAIRED = {
    "minilm": ["dataset=wordnet_pos"],
    "tiny_bert": ["dataset=wordnet_pos"],
    "seq_cls": ["dataset=wordnet_pos", "model=minilm"],
    "token_cls": ["dataset=iso_entities", "model=minilm"],
    "qa": ["dataset=iso_codes_qa", "model=minilm"],
    **{task: ["dataset=chatterbot_prefs"] for task in ("dpo", "orpo", "kto", "simpo")},
    "wordnet_pos": ["model=minilm"],
    "iso_entities": ["model=minilm"],
    "iso_codes_qa": ["model=minilm"],
    "wordnet_supersense": ["model=minilm"],
    "policy_entities": ["model=minilm"],
    "wordnet_gloss_qa": ["model=minilm"],
}


REFUSED_PRESETS = {"phi3_small": "tiktoken"}


@pytest.mark.parametrize(
    ("group", "preset"), FILE_PRESETS, ids=[f"{g}={p}" for g, p in FILE_PRESETS]
)
def test_file_preset_composes(compose: Compose, group: str, preset: str, tmp_path: Path) -> None:
    overrides = [f"{group}={preset}", *PAIRED.get(preset, [])]
    if group == "dataset" and preset in ("jsonl", "file"):
        data = tmp_path / "d.jsonl"
        data.write_text('{"prompt": "a", "completion": "b"}\n')
        overrides.append(f"dataset.path={data}")
    cfg = compose(overrides, model=None)
    # GPU presets are valid configs; on a machine without CUDA they report only that.
    problems = [p for p in all_problems(cfg) if "needs a CUDA GPU" not in p]
    if preset in REFUSED_PRESETS:  # presets that exist to say why they cannot be used
        assert any(REFUSED_PRESETS[preset] in p for p in problems), problems
        return
    assert problems == []
    if group != "paths":
        assert OmegaConf.select(cfg, group) is not None


@pytest.mark.parametrize("name", method_names())
def test_registered_method_composes(compose: Compose, name: str) -> None:
    cfg = compose([f"method={name}"], model=None)
    assert cfg.method.name == name
    assert all_problems(cfg) == []


def test_method_fields_are_typed_and_overridable(compose: Compose) -> None:
    cfg = compose(["method=lora", "method.r=16", "method.alpha=32"], model=None)
    assert (cfg.method.r, cfg.method.alpha) == (16, 32)
    assert type(OmegaConf.to_object(cfg.method)).__name__ == "LoraConfig"


def test_default_run_is_lora_on_smollm2_chatterbot_cpu(compose: Compose) -> None:
    cfg = compose([], model=None)
    assert (cfg.model.name, cfg.method.name, cfg.dataset.name, cfg.hardware.name) == (
        "smollm2_135m",
        "lora",
        "chatterbot",
        "cpu",
    )
    assert cfg.hardware.precision == "32-true"


@pytest.mark.parametrize(
    ("dataset", "task"),
    [
        ("wordnet_pos", "seq_cls"),
        ("wordnet_supersense", "seq_cls"),
        ("iso_entities", "token_cls"),
        ("policy_entities", "token_cls"),
        ("iso_codes_qa", "qa"),
        ("wordnet_gloss_qa", "qa"),
    ],
)
def test_dataset_preset_names_its_task_and_task_overrides_it(
    compose: Compose, dataset: str, task: str
) -> None:
    assert compose([f"dataset={dataset}"], model=None).task.name == task
    assert compose([f"dataset={dataset}", "task=causal_lm"], model=None).task.name == "causal_lm"


def test_bundled_corpora_in_schema_match_the_loaders() -> None:
    from framework.config.schema import BUNDLED_CORPORA
    from framework.data.sources import CORPORA

    assert set(BUNDLED_CORPORA) == set(CORPORA)
