"""One conformance suite for every registered method (built-ins, plugins/, entry points)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from framework.config.schema import register_schemas
from framework.config.validate import all_problems
from framework.methods.builtin import BUILTIN_MODULES
from framework.methods.discovery import discover_methods
from framework.methods.registry import get_method, method_names
from tests.helpers import ROOT
from tests.method_expectations import EXPECTED, RELOAD_TOLERANCE
from tests.method_kit import Trained, compose_run, logits_of, reload_weights, save_weights
from tests.method_kit import train_method as _train
from tests.plugin_package import ENTRY_POINT_METHOD, install_entry_point_plugin

# e2e: the session fixture below pip-installs the entry-point package (a subprocess), and every
# method trains in-process (minutes on 2 cores).
pytestmark = pytest.mark.e2e

register_schemas()
discover_methods(ROOT / "plugins")
# Parametrized over what is registered now, plus the entry-point package the fixture installs.
METHODS = sorted({*method_names(), ENTRY_POINT_METHOD})
ISSUE_METHODS = {
    *("full", "freeze", "lora", "rslora", "dora", "qlora", "qdora", "lora_8bit", "ia3"),
    *("prefix", "prompt", "ptuning", "adalora", "loha", "lokr", "oft", "vera"),
}
STEPS = 5
MERGE_ATOL = 1e-4


@pytest.fixture(scope="session", autouse=True)
def entry_point_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the throwaway entry-point package into a temp folder and register its method."""
    return install_entry_point_plugin(tmp_path_factory.mktemp("entry_point_site"))


@functools.cache
def trained(name: str) -> Trained:
    """Apply and train each method once; every check below reads the same run."""
    expected = EXPECTED[name]
    return _train(name, expected.lr, STEPS, list(expected.overrides))


def test_registry_is_complete() -> None:
    """Every registered method is parametrized here and has expectations; nothing is skipped."""
    registered = set(method_names())
    assert registered == set(METHODS), f"not covered by conformance: {registered ^ set(METHODS)}"
    missing = sorted(registered - set(EXPECTED))
    assert not missing, f"add expectations in tests/method_expectations.py for: {missing}"
    assert ISSUE_METHODS <= set(BUILTIN_MODULES) <= registered
    assert {"loraplus", ENTRY_POINT_METHOD} <= registered  # folder plugin and entry point


@pytest.mark.parametrize("name", METHODS)
def test_composes_with_every_field_overridable(name: str) -> None:
    config_class = get_method(name).cls.config_class
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    defaults = config_class(name=name)
    overrides = [
        f"method.{key}={hydra_value(getattr(defaults, key))}" for key in fields if key != "name"
    ]
    cfg = compose_run([f"method={name}", *overrides])
    assert cfg.method.name == name
    assert set(cfg.method.keys()) == set(fields)
    assert OmegaConf.to_object(cfg.method) == defaults
    assert all_problems(cfg) == []


@pytest.mark.parametrize("name", METHODS)
def test_applies_and_trains_only_its_own_parameters(name: str) -> None:
    run = trained(name)
    expected = EXPECTED[name]
    counts = run.trainable()
    assert sum(counts.values()) == expected.trainable(run.method.config)
    strays = [n for n in counts if not any(m in n for m in expected.markers)]
    assert not strays, f"trainable parameters outside the method: {strays[:5]}"
    assert not run.frozen_changed, f"frozen parameters changed: {run.frozen_changed[:5]}"
    assert sorted(run.lr_by_param) == sorted(counts), "the optimizer must hold exactly these"


@pytest.mark.parametrize("name", METHODS)
def test_loss_falls(name: str) -> None:
    run = trained(name)
    assert run.loss_after < run.loss_before - 1e-3, (run.loss_before, run.loss_after)


@pytest.mark.parametrize("name", METHODS)
def test_save_and_reload_give_identical_logits(name: str, tmp_path: Path) -> None:
    run = trained(name)
    save_weights(run, tmp_path)
    reloaded = reload_weights(run, tmp_path)
    original, again = logits_of(run.net, run.batch), logits_of(reloaded, run.batch)
    tolerance = RELOAD_TOLERANCE.get(name, 0.0)
    difference = float((original - again).abs().max())
    assert difference <= tolerance, f"reloaded logits differ by {difference}"


@pytest.mark.parametrize("name", METHODS)
def test_merge_matches_unmerged_logits(name: str, tmp_path: Path) -> None:
    run = trained(name)
    caps = run.method.capabilities
    if not caps.mergeable:
        assert caps.merge_refusal or not caps.produces_adapter, "say why it cannot merge"
        return
    save_weights(run, tmp_path)
    merged = run.method.merge(reload_weights(run, tmp_path))
    assert not any("lora_" in n or "_lambda" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(
        logits_of(merged, run.batch), logits_of(run.net, run.batch), atol=MERGE_ATOL, rtol=0
    )


def test_loraplus_gives_b_a_larger_learning_rate() -> None:
    run = trained("loraplus")
    ratio = run.method.config.lr_ratio  # type: ignore[attr-defined]
    rates = {("B" if ".lora_B." in n else "A"): lr for n, lr in run.lr_by_param.items()}
    assert rates["B"] == pytest.approx(rates["A"] * ratio)


def test_quantized_methods_train_on_a_quantized_base() -> None:
    import bitsandbytes as bnb

    kinds = {
        "qlora": bnb.nn.Linear4bit,
        "qdora": bnb.nn.Linear4bit,
        "lora_8bit": bnb.nn.Linear8bitLt,
    }
    for name, layer in kinds.items():
        base = trained(name).net.get_base_model()  # type: ignore[operator]
        assert isinstance(base.model.layers[0].self_attn.q_proj.base_layer, layer), name


def hydra_value(value: Any) -> str:
    """A Python default written as a Hydra override value."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)
