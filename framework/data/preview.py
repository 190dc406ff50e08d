"""`run.preview=N`: N training rows as the model will see them, then exit (no weights load).

Each row goes through the run's own pieces (tokenizer with its chat template, the split and
shuffle, the task's encoder), so the preview is what training reads: the rendered text with
the trained tokens between [[ and ]] (causal LM and preference replies, a QA answer span),
tags after their first sub-token (token_cls), the class (seq_cls); token counts and truncation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.errors import UserError

OPEN, CLOSE = "[[", "]]"  # around trained tokens


def marked(tokenizer: Any, ids: list[int], trained: list[bool]) -> str:
    """The decoded ids, each run of trained tokens between [[ and ]]."""
    out, start = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or trained[i] != trained[start]:
            text = tokenizer.decode(ids[start:i], skip_special_tokens=False)
            out.append(f"{OPEN}{text}{CLOSE}" if trained[start] else text)
            start = i
    return "".join(out)


def describe(
    example: Any, tokenizer: Any, labels: tuple[str, ...], tags: bool = False, kto: bool = False
) -> list[str]:
    """The lines of one encoded example of any task (tags: token_cls; kto: the KTO task)."""
    from framework.data.encoders import Classified, Span
    from framework.data.preference_encoder import PreferenceExample
    from framework.data.render import IGNORE_INDEX

    cut = "truncated" if example.truncated else "not truncated"
    if isinstance(example, Classified):
        text = tokenizer.decode(example.input_ids, skip_special_tokens=False)
        count = len(example.input_ids)
        return [text, f"-> class {OPEN}{labels[example.label]}{CLOSE} ({count} tokens, {cut})"]
    if isinstance(example, Span):
        ids = example.input_ids
        trained = [example.start <= i <= example.end and example.end > 0 for i in range(len(ids))]
        return [marked(tokenizer, ids, trained), f"({len(ids)} tokens, answer span, {cut})"]
    if isinstance(example, PreferenceExample):
        prompt = tokenizer.decode(example.prompt_ids, skip_special_tokens=False)
        first, second = example.replies
        good = "desirable" if example.desirable else "undesirable"
        names = ("chosen", "rejected")
        if kto:
            names = (f"reply ({good})", "mismatched reply (KL estimate)")
        return [
            prompt,
            f"  {names[0]}: {marked(tokenizer, first, [True] * len(first))}",
            f"  {names[1]}: {marked(tokenizer, second, [True] * len(second))}",
            f"({len(example.prompt_ids)} prompt tokens, {len(first)} + {len(second)} reply "
            f"tokens, {cut})",
        ]
    ids, targets = example.input_ids, example.labels
    if tags:
        words = [
            tokenizer.decode([t]) + (f"/{labels[y]}" if y != IGNORE_INDEX else "")
            for t, y in zip(ids, targets, strict=True)
        ]
        return [" ".join(words), f"({len(ids)} tokens, {cut})"]
    trained = [y != IGNORE_INDEX for y in targets]
    return [
        marked(tokenizer, ids, trained),
        f"({len(ids)} tokens, {sum(trained)} trained, {cut})",
    ]


def render_preview(cfg: DictConfig, count: int) -> str:
    """The first `count` training rows of the run (after its shuffle), as trained."""
    from framework.builders.data import build_encoder, load_split
    from framework.builders.model import build_source, build_tokenizer
    from framework.data.encoders import EncodeStats
    from framework.tasks.registry import task_spec

    if count < 1:
        raise UserError(f"run.preview={count}: allowed: a number of rows >= 1 (0: no preview)")
    dataset, task = cfg.dataset, str(cfg.task.name)
    tokenizer = build_tokenizer(cfg.model, build_source(cfg.model), Path(str(cfg.paths.cache_dir)))
    train_rows, _, labels, _ = load_split(dataset, task)
    encoder = build_encoder(task, dataset, tokenizer=tokenizer, labels=labels)
    tags, kto = task_spec(task).labels == "tags", task == "kto"
    lines = [
        f"preview: {min(count, len(train_rows))} of {len(train_rows)} training rows, "
        f"task={task}, model={cfg.model.name}, dataset.max_length={dataset.max_length}; "
        f"trained tokens between {OPEN} and {CLOSE}"
    ]
    for row in train_rows[:count]:
        stats = EncodeStats()
        examples = encoder.encode([row], stats)
        lines.append(f"\n--- {row.origin}: {len(examples)} example(s)")
        if not examples:
            lines.append("(dropped: no trained token left after truncation)")
        for example in examples:
            lines += describe(example, tokenizer, labels, tags, kto)
    return "\n".join(lines)
