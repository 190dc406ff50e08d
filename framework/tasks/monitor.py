"""Which validation metrics a run can keep its best weights by, and whether higher is better."""

from __future__ import annotations

from framework.data.formats import DATA_FORMATS
from framework.errors import allowed_list, did_you_mean
from framework.tasks.registry import task_spec

LOWER_IS_BETTER = frozenset({"loss", "perplexity"})
# The generation scores of a dataset format's scorer kind (framework/tasks/generation.py).
GENERATION_METRICS = {
    "answer": ("exact_match", "f1"),
    "translation": ("bleu", "chrf"),
    "unscored": (),
}


def monitored_metrics(task: str, dataset_format: str, generate_rows: int) -> tuple[str, ...]:
    """The val/<metric> names a run of this task and format logs at every validation."""
    spec = task_spec(task)
    names = ["loss", *spec.metrics]
    fmt = DATA_FORMATS.get(dataset_format)
    if spec.generative and generate_rows > 0 and fmt is not None and fmt.scorer:
        names += [*GENERATION_METRICS.get(fmt.scorer, ()), "eos_stop_rate"]
    return tuple(f"val/{name}" for name in names)


def higher_is_better(metric: str) -> bool:
    """Direction of a val/<metric>: losses and perplexity fall, scores rise."""
    return metric.partition("/")[2] not in LOWER_IS_BETTER


def keep_best_problems(
    key: str, metric: str, task: str, dataset_format: str, generate_rows: int
) -> list[str]:
    """A metric name the run will not log, with the allowed ones."""
    allowed = monitored_metrics(task, dataset_format, generate_rows)
    if metric in allowed:
        return []
    return [
        f"{key}='{metric}' is not a metric of task={task} (dataset.format={dataset_format}). "
        f"Allowed: {allowed_list(allowed)}." + did_you_mean(metric, allowed)
    ]
