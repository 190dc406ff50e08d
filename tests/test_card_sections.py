"""Model card sections in-process: a preference run's held-out reward accuracy, margin,
chosen/rejected rewards and log-probabilities; the LR an optim.lr=auto run trained at."""

from __future__ import annotations

from framework.training.model_card import model_card


def test_card_reports_preference_metrics_before_and_after() -> None:
    metrics = {
        "val_loss_before": 0.693147,
        "val_loss_after": 0.182,
        "val_reward_accuracy_before": 0.5,
        "val_reward_accuracy_after": 0.9375,
        "val_reward_margin_before": 0.0,
        "val_reward_margin_after": 2.5,
        "val_rewards_chosen_before": 0.0,
        "val_rewards_chosen_after": 0.62,
        "val_rewards_rejected_before": 0.0,
        "val_rewards_rejected_after": -1.88,
        "val_logps_chosen_before": -40.0,
        "val_logps_chosen_after": -34.5,
    }
    card = model_card("r", "python train.py task=dpo", "m", "lora", "d", metrics, "adapter")
    assert "## Preference metrics (held-out pairs)" in card
    assert "| reward_accuracy | 0.5 | 0.9375 |" in card
    assert "| reward_margin | 0 | 2.5 |" in card
    assert "| rewards_rejected | 0 | -1.88 |" in card
    assert "| logps_chosen | -40 | -34.5 |" in card
    assert "log_odds_ratio" not in card  # ORPO's metric only when the run logged it
    assert card.index("## Preference metrics") < card.index("## Metrics")


def test_card_of_a_non_preference_run_has_no_preference_section() -> None:
    metrics = {"val_loss_before": 2.0, "val_loss_after": 1.0, "val_perplexity_after": 2.7}
    card = model_card("r", "python train.py", "m", "lora", "d", metrics, "adapter")
    assert "Preference metrics" not in card


def test_card_names_the_learning_rate_the_lr_finder_picked() -> None:
    metrics = {"val_loss_before": 2.0, "val_loss_after": 1.0, "lr_auto": True, "lr_found": 0.0123}
    card = model_card("r", "python train.py optim.lr=auto", "m", "lora", "d", metrics, "adapter")
    assert "## Learning rate" in card and "optim.lr=0.0123" in card
    assert "lr_finder.png" in card
