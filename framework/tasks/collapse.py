"""Collapse and degeneracy: one class for (nearly) everything, or empty/identical generations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# A head has collapsed when its most predicted class takes at least COLLAPSE_SHARE of the
# predictions while the other classes get less than MINORITY_RATIO of their reference share
# (e.g. 95% "O" in the references, over 99.5% "O" predicted). Needs MIN_PREDICTIONS to judge.
COLLAPSE_SHARE = 0.95
MINORITY_RATIO = 0.1
MIN_PREDICTIONS = 10

HEAD_FIXES = (
    "train longer (more trainer.max_steps)",
    "raise the head's learning rate (optim.head_lr_ratio, or optim.lr)",
    "fine-tune every weight (method=full) or keep the best check (run.keep_best=val/<metric>)",
)
GENERATION_FIXES = (
    "train longer or raise optim.lr",
    "check the chat template and EOS (chat_template_eos_ok in metrics.json)",
    "raise task.max_new_tokens if answers are cut",
)


def per_class_scores(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of every class seen in the references or predictions."""
    pairs = list(zip(predicted, gold, strict=True))
    scores: dict[str, dict[str, Any]] = {}
    for name in sorted(set(gold) | set(predicted)):
        tp = sum(p == name and g == name for p, g in pairs)
        fp = sum(p == name and g != name for p, g in pairs)
        fn = sum(p != name and g == name for p, g in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        scores[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    return scores


def class_collapse(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, Any] | None:
    """The collapse of a head onto one class, or None: collapsed, the class, its share of the
    predictions and of the references."""
    if len(predicted) < MIN_PREDICTIONS or not gold:
        return None
    name, count = Counter(predicted).most_common(1)[0]
    share = count / len(predicted)
    reference_share = sum(g == name for g in gold) / len(gold)
    others_predicted, others_gold = 1.0 - share, 1.0 - reference_share
    if share < COLLAPSE_SHARE or others_gold <= 0.0:
        return None
    if others_predicted >= MINORITY_RATIO * others_gold:
        return None
    return {
        "collapsed": True,
        "collapse_kind": "one class",
        "collapse_class": name,
        "collapse_share": round(share, 4),
        "collapse_reference_share": round(reference_share, 4),
        "collapse_fixes": list(HEAD_FIXES),
    }


def generation_degeneracy(
    generated: Sequence[str], references: Sequence[str]
) -> dict[str, Any] | None:
    """Empty or identical generations while the references differ, or None."""
    if len(generated) < 2:
        return None
    empty = sum(not g.strip() for g in generated) / len(generated)
    text, count = Counter(generated).most_common(1)[0]
    share = count / len(generated)
    reference_share = Counter(references).most_common(1)[0][1] / len(references)
    if empty >= 0.5:
        kind, name, share = "empty generations", "", empty
    elif share >= 0.75 and reference_share < 0.75:
        kind, name = "identical generations", text
    else:
        return None
    return {
        "collapsed": True,
        "collapse_kind": kind,
        "collapse_class": name,
        "collapse_share": round(share, 4),
        "collapse_reference_share": round(reference_share, 4),
        "collapse_fixes": list(GENERATION_FIXES),
    }


def collapse_message(found: dict[str, Any]) -> str:
    """One warning line: what collapsed and the likely fixes."""
    what = (
        f"{100 * found['collapse_share']:.1f}% of predictions are '{found['collapse_class']}' "
        f"({100 * found['collapse_reference_share']:.1f}% of the references)"
        if found["collapse_kind"] == "one class"
        else f"{found['collapse_kind']}: {100 * found['collapse_share']:.1f}% of the samples"
    )
    return f"the model collapsed: {what}. Likely fixes: " + "; ".join(found["collapse_fixes"])
