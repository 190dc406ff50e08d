"""The task table: each task's dataset formats, model head, PEFT type, encoder and objective.

The one place task names are spelled. The config choices (task.name), the task x format
check, the head a model loads with, PEFT's task type, the label inference, the encoder and
the objective all read it (tests/test_single_source.py keeps the other pieces in step: a
conf/task/<name>.yaml preset, the encoder and objective classes named here).
Importable without torch: config-only paths read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.errors import UserError, allowed_list, did_you_mean


@dataclass(frozen=True)
class TaskSpec:
    """One task: what it learns from and the pieces that train and score it."""

    name: str
    formats: tuple[str, ...]  # the dataset formats it learns from (framework.data.formats)
    generative: bool  # a decoder writing text: needs a decoder base; generation metrics
    head: str  # the transformers Auto class its model loads with
    peft_task_type: str  # the peft.TaskType member of its adapters
    labels: str  # what dataset.labels hold: "classes", "tags" or "" (none)
    encoder: str  # class in framework.data.encoders: rows -> model inputs
    objective: str  # class in framework.tasks.objectives: loss and validation metrics
    # Validation metrics its objective logs beyond val/loss (run.keep_best may name them;
    # generative tasks add their dataset format's generation scores: framework/tasks/monitor.py)
    metrics: tuple[str, ...] = ()
    # Predictions are classes (a label per row or per token): collapse onto one is detected
    classifies: bool = False


CAUSAL_LM = "causal_lm"  # the generative task: the default, and what chat/generate tools need

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name=CAUSAL_LM,
            # Supervised rows are rendered as generation: classification, translation, QA.
            formats=(
                "auto",
                "chat",
                "instruction",
                "prompt_completion",
                "text",
                "classification",
                "translation",
                "qa",
            ),
            generative=True,
            head="AutoModelForCausalLM",
            peft_task_type="CAUSAL_LM",
            labels="",
            encoder="CausalEncoder",
            objective="Objective",
            metrics=("perplexity",),
        ),
        TaskSpec(
            name="seq_cls",
            formats=("classification",),
            generative=False,
            head="AutoModelForSequenceClassification",
            peft_task_type="SEQ_CLS",
            labels="classes",
            encoder="LabelEncoder",
            objective="SequenceClassification",
            metrics=("accuracy", "macro_f1"),
            classifies=True,
        ),
        TaskSpec(
            name="token_cls",
            formats=("token_classification",),
            generative=False,
            head="AutoModelForTokenClassification",
            peft_task_type="TOKEN_CLS",
            labels="tags",
            encoder="TagEncoder",
            objective="TokenClassification",
            metrics=("entity_precision", "entity_recall", "entity_f1", "tag_accuracy"),
            classifies=True,
        ),
        TaskSpec(
            name="qa",
            formats=("qa",),
            generative=False,
            head="AutoModelForQuestionAnswering",
            peft_task_type="QUESTION_ANS",
            labels="",
            encoder="SpanEncoder",
            objective="ExtractiveQA",
            metrics=("exact_match", "f1"),
        ),
        # Preference tuning: a causal LM learns from preferred / dispreferred replies, rendered
        # with the same chat template and masks as SFT (framework.tasks.preference).
        *(
            TaskSpec(
                name=name,
                formats=formats,
                generative=True,
                head="AutoModelForCausalLM",
                peft_task_type="CAUSAL_LM",
                labels="",
                encoder="PreferenceEncoder",
                objective=objective,
            )
            for name, formats, objective in (
                ("dpo", ("preference",), "DPO"),
                ("orpo", ("preference",), "ORPO"),
                ("kto", ("kto", "preference"), "KTO"),  # pairs: chosen desirable, rejected not
                ("simpo", ("preference",), "SimPO"),
            )
        ),
    )
}
TASK_NAMES = tuple(TASKS)
PREFERENCE_TASKS = tuple(
    name for name, spec in TASKS.items() if spec.encoder == "PreferenceEncoder"
)


def learns_as(task: str) -> str:
    """The task a method must support to adapt a model for `task`: preference tasks train the
    same causal LM as SFT, so a method that adapts causal LMs adapts them too."""
    return CAUSAL_LM if task in PREFERENCE_TASKS else task


def task_spec(name: str) -> TaskSpec:
    """The spec of a task name; a UserError with the allowed names when it is unknown."""
    if name not in TASKS:
        raise UserError(
            f"task '{name}' is not registered. Allowed: {allowed_list(TASK_NAMES)}."
            + did_you_mean(name, TASK_NAMES)
        )
    return TASKS[name]
