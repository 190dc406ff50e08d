"""Checks of the task's own settings: preference-tuning hyperparameters (task.preference.*) and
the training recipe (validation schedule, best checkpoint, early stopping, head learning rate)."""

from __future__ import annotations

from omegaconf import DictConfig

from framework.builders.method import build_method
from framework.errors import allowed_list, did_you_mean

# task.preference.<key>: (low, high, low allowed); every value is below high. The service's
# method.dpo.hyperparameters.beta is checked against the same range.
PREFERENCE_RANGES: dict[str, tuple[float, float, bool]] = {
    "beta": (0.0, 100.0, False),
    "label_smoothing": (0.0, 0.5, True),
    "simpo_gamma": (0.0, 100.0, True),
    "orpo_lambda": (0.0, 100.0, True),
    "kto_desirable_weight": (0.0, 100.0, False),
    "kto_undesirable_weight": (0.0, 100.0, False),
}


def preference_problems(cfg: DictConfig) -> list[str]:
    """task.preference.*: allowed choices, ranges and combinations (preference tasks only)."""
    from framework.tasks.registry import PREFERENCE_TASKS

    task = str(cfg.task.name)
    if task not in PREFERENCE_TASKS:
        return []
    from framework.tasks.preference import LOSSES, REFERENCES  # imports torch: preference only

    p = cfg.task.preference
    found = []
    allowed_losses = {"dpo": LOSSES, "simpo": ("sigmoid", "hinge")}.get(task, ("sigmoid",))
    for key, value, allowed in (
        ("loss", p.loss, allowed_losses),
        ("reference", p.reference, REFERENCES),
    ):
        if value not in allowed:
            found.append(
                f"task.preference.{key}='{value}' is not allowed for task={task}. "
                f"Allowed: {allowed_list(allowed)}." + did_you_mean(str(value), allowed)
            )
    for key, (low, high, inclusive_low) in PREFERENCE_RANGES.items():
        value = p[key]
        ok = (low <= value if inclusive_low else low < value) and value < high
        if not ok:
            bound = "at least" if inclusive_low else "greater than"
            found.append(
                f"task.preference.{key}={value} is out of range ({bound} {low}, below {high})"
            )
    if p.label_smoothing and p.loss != "sigmoid":
        found.append(
            f"task.preference.label_smoothing={p.label_smoothing} applies to loss=sigmoid only "
            f"(task.preference.loss={p.loss})"
        )
    if p.reference == "adapter_off" and not build_method(cfg.method).capabilities.produces_adapter:
        found.append(
            f"task.preference.reference=adapter_off needs an adapter method; method="
            f"{cfg.method.name} trains the whole model (use precomputed or frozen_copy)"
        )
    return found


def recipe_problems(cfg: DictConfig) -> list[str]:
    """Validation schedule, best-checkpoint metric, early stopping and head LR settings."""
    from framework.tasks.monitor import keep_best_problems

    found = []
    interval = cfg.trainer.val_check_interval
    if interval is not None and not float(interval) > 0:
        found.append(
            f"trainer.val_check_interval={interval} must be greater than 0: a number of steps "
            "(an integer), a fraction of an epoch (at most 1.0) or null (the default schedule)"
        )
    elif interval is not None and float(interval) > 1 and float(interval) != int(interval):
        found.append(
            f"trainer.val_check_interval={interval}: above 1 it counts optimizer steps and "
            "must be a whole number"
        )
    if not float(cfg.optim.head_lr_ratio) > 0:
        found.append(f"optim.head_lr_ratio={cfg.optim.head_lr_ratio} must be greater than 0")
    patience = cfg.run.early_stopping_patience
    if patience is not None and int(patience) < 1:
        found.append(f"run.early_stopping_patience={patience} is out of range (at least 1)")
    if patience is not None and cfg.run.keep_best is None:
        found.append(
            "run.early_stopping_patience needs run.keep_best=<metric> (the metric it watches)"
        )
    strategy = str(cfg.hardware.strategy)
    zero3 = strategy.startswith("deepspeed_stage_3") or (
        strategy == "deepspeed" and int(cfg.hardware.deepspeed.stage) == 3
    )
    if cfg.run.keep_best is not None and zero3:
        found.append(
            "run.keep_best is refused with ZeRO-3 (hardware.strategy=" + strategy + "): its "
            "weights are partitioned across ranks and cannot be kept per check; use ZeRO-2, "
            "DDP or FSDP, or drop run.keep_best"
        )
    if cfg.run.keep_best is not None:
        found += keep_best_problems(
            "run.keep_best",
            str(cfg.run.keep_best),
            str(cfg.task.name),
            str(cfg.dataset.format),
            int(cfg.task.generate_rows),
        )
    return found
