"""Recipe pieces in-process: validation schedule, head LR groups, best-check tracking,
collapse detection, per-class scores, keep_best checks and the card's sections."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from omegaconf import DictConfig

from framework.builders.trainer import validation_schedule
from framework.config.validate import recipe_problems
from framework.tasks.collapse import class_collapse, generation_degeneracy, per_class_scores
from framework.tasks.monitor import higher_is_better, monitored_metrics
from framework.training.model_card import model_card
from framework.training.optim import with_head_lr

# long: trains head tasks to measure collapse (kept out of make test-fast)
pytestmark = pytest.mark.e2e


def test_default_validation_schedule_keeps_short_runs_cheap() -> None:
    assert validation_schedule(None, 30, 1) == {"val_check_interval": None}
    assert validation_schedule(None, 200, 1) == {
        "val_check_interval": 40,
        "check_val_every_n_epoch": None,
    }
    assert validation_schedule(None, 60, 2)["val_check_interval"] == 24  # max(10, 12) x 2
    assert validation_schedule(25.0, 30, 1)["val_check_interval"] == 25  # steps, any length
    assert validation_schedule(0.5, 30, 1) == {"val_check_interval": 0.5}  # epoch fraction


def test_head_parameters_get_their_own_learning_rate() -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForTokenClassification, BertConfig

    from framework.models.heads import head_parameter_ids
    from framework.training.optim import trainable_groups

    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    config.num_labels = 3
    model = get_peft_model(
        AutoModelForTokenClassification.from_config(config),
        LoraConfig(task_type="TOKEN_CLS", target_modules=["query", "value"]),
    )
    head = head_parameter_ids(model)
    names = {n for n, p in model.named_parameters() if id(p) in head}
    assert names and all("classifier" in n for n in names)
    assert any("modules_to_save" in n for n in names)  # PEFT's trained copy of the head
    groups = with_head_lr(trainable_groups(model.parameters()), head, 1e-3, 10.0)
    assert [g.get("lr") for g in groups] == [None, pytest.approx(1e-2)]
    assert {id(p) for p in groups[1]["params"]} == {
        id(p) for p in model.parameters() if id(p) in head and p.requires_grad
    }
    assert with_head_lr(trainable_groups(model.parameters()), head, 1e-3, 1.0)[0].get("lr") is None


def test_collapse_onto_the_majority_class_is_detected() -> None:
    gold = ["O"] * 95 + ["B-PER"] * 5
    collapsed = class_collapse(["O"] * 100, gold)
    assert collapsed is not None and collapsed["collapsed"] is True
    assert collapsed["collapse_class"] == "O" and collapsed["collapse_share"] == 1.0
    assert collapsed["collapse_reference_share"] == 0.95
    assert any("head_lr_ratio" in fix for fix in collapsed["collapse_fixes"])
    healthy = ["O"] * 96 + ["B-PER"] * 4
    assert class_collapse(healthy, gold) is None
    assert class_collapse(["O"] * 100, ["O"] * 100) is None  # the references agree
    scores = per_class_scores(healthy, gold)
    assert scores["B-PER"] == {"precision": 1.0, "recall": 0.8, "f1": 0.8889, "support": 5}


def test_empty_or_identical_generations_are_flagged() -> None:
    references = ["paris", "rome", "oslo", "lima"]
    empty = generation_degeneracy(["", "", " ", "x"], references)
    assert empty is not None and empty["collapse_kind"] == "empty generations"
    same = generation_degeneracy(["paris"] * 4, references)
    assert same is not None and same["collapse_class"] == "paris"
    assert generation_degeneracy(["paris", "rome", "oslo", "x"], references) is None


def test_best_weights_restore_the_best_check() -> None:
    from framework.training.best import BestWeights

    module = torch.nn.Linear(2, 1)
    tracker = BestWeights("val/entity_f1", higher=True, patience=2)
    with torch.no_grad():
        module.weight.fill_(1.0)
    assert tracker.offer(module, 0.5, 10)  # type: ignore[arg-type]
    with torch.no_grad():
        module.weight.fill_(2.0)
    assert not tracker.offer(module, 0.4, 20)  # type: ignore[arg-type]
    assert tracker.restore(module)  # type: ignore[arg-type]
    assert module.weight.tolist() == [[1.0, 1.0]]
    assert tracker.report()["best_step"] == 10 and tracker.stale_checks == 1


def test_metric_directions_and_names_per_task() -> None:
    assert not higher_is_better("val/loss") and higher_is_better("val/entity_f1")
    assert "val/entity_f1" in monitored_metrics("token_cls", "token_classification", 8)
    assert "val/bleu" in monitored_metrics("causal_lm", "translation", 8)
    assert "val/bleu" not in monitored_metrics("causal_lm", "translation", 0)


def test_unknown_keep_best_metric_names_the_allowed_ones(
    compose: Callable[..., DictConfig],
) -> None:
    cfg = compose(["model=tiny_bert", "task=seq_cls", "dataset.format=classification"])
    assert recipe_problems(cfg) == []
    bad = compose(
        ["model=tiny_bert", "task=seq_cls", "dataset.format=classification"]
        + ["run.keep_best=val/entity_f1", "run.early_stopping_patience=0"]
        + ["optim.head_lr_ratio=0", "trainer.val_check_interval=2.5"]
    )
    text = "\n".join(recipe_problems(bad))
    assert "run.keep_best='val/entity_f1'" in text and "val/accuracy, val/loss" in text
    assert "run.early_stopping_patience=0" in text
    assert "optim.head_lr_ratio=0" in text and "trainer.val_check_interval=2.5" in text


def test_card_shows_collapse_best_step_and_per_class() -> None:
    metrics = {
        **(class_collapse(["O"] * 20, ["O"] * 18 + ["B-LOC"] * 2) or {}),
        "best_metric": "val/loss",
        "best_value": 0.2,
        "best_step": 12,
        "steps": 30,
        "kept_best": True,
        "per_class": per_class_scores(["O"] * 20, ["O"] * 18 + ["B-LOC"] * 2),
    }
    card = model_card("r", "python train.py", "m", "lora", "d", metrics, "adapter")
    assert "## WARNING: collapsed" in card and "100.0% of predictions are 'O'" in card
    assert "at step 12 of 30" in card and "run.keep_best" in card
    assert "| B-LOC | 0 | 0 | 0 | 2 |" in card
