"""Task metrics: accuracy and macro-F1, entity F1 (seqeval), SQuAD EM/F1, BLEU and chrF."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence


def accuracy(predicted: Sequence[int], gold: Sequence[int]) -> float:
    """Share of exact matches."""
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / max(len(gold), 1)


def macro_f1(predicted: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in gold or predictions."""
    scores = []
    for c in range(num_labels):
        tp = sum(p == c and g == c for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == c and g != c for p, g in zip(predicted, gold, strict=True))
        fn = sum(p != c and g == c for p, g in zip(predicted, gold, strict=True))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / max(len(scores), 1)


def entity_scores(predicted: list[list[str]], gold: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 over BIO tag sequences (seqeval, conlleval)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {
        "entity_precision": float(precision_score(gold, predicted, zero_division=0)),
        "entity_recall": float(recall_score(gold, predicted, zero_division=0)),
        "entity_f1": float(f1_score(gold, predicted, zero_division=0)),
    }


def _normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_scores(predicted: str, answers: Sequence[str]) -> tuple[float, float]:
    """(exact match, token F1) of one prediction against its best gold answer."""
    best_em = best_f1 = 0.0
    for answer in answers:
        p, g = _normalize(predicted).split(), _normalize(answer).split()
        best_em = max(best_em, float(p == g))
        common = sum((collections.Counter(p) & collections.Counter(g)).values())
        if common:
            precision, recall = common / len(p), common / len(g)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
        elif not p and not g:
            best_f1 = max(best_f1, 1.0)
    return best_em, best_f1


def translation_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, default settings)."""
    import sacrebleu

    return {
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score),
        "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
    }
