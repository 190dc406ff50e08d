"""Corpora shipped inside installed packages (pip or Debian), read as raw records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from framework.data import debian_corpora, head_corpora
from framework.data.readers import Record
from framework.data.rows import ChatRow
from framework.errors import UserError, allowed_list, did_you_mean
from framework.models.source import package_dir

__all__ = ["CORPORA", "ChatRow", "chatterbot_files", "corpus_records"]


def chatterbot_files(categories: list[str]) -> list[Path]:
    """The English topic files of chatterbot-corpus; all of them when categories is empty."""
    folder = package_dir("chatterbot_corpus") / "data" / "english"
    available = {p.stem: p for p in sorted(folder.glob("*.yml"))}
    for cat in categories:
        if cat not in available:
            raise UserError(
                f"dataset.categories: '{cat}' is not a chatterbot topic. "
                f"Allowed: {allowed_list(available)}." + did_you_mean(cat, available)
            )
    return [available[c] for c in categories or list(available)]


def chatterbot_records(categories: list[str]) -> Iterator[Record]:
    """Prompt/response pairs from the English chatterbot-corpus (BSD-3-Clause)."""
    import yaml

    for path in chatterbot_files(categories):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for index, conversation in enumerate(data.get("conversations") or []):
            turns = [str(t).strip() for t in conversation if str(t).strip()]
            for a, b in zip(turns, turns[1:], strict=False):
                messages = [{"role": "user", "content": a}, {"role": "assistant", "content": b}]
                yield Record(f"{path}#{index}", {"messages": messages})


def chatterbot_preference_records(categories: list[str]) -> Iterator[Record]:
    """Preference pairs from chatterbot-corpus: the corpus answer is chosen, the answer of a
    pair half the corpus away (another topic, as a rule) is rejected. Deterministic."""
    pairs = [
        (r.fields["messages"][0]["content"], r.fields["messages"][1]["content"], r.origin)
        for r in chatterbot_records(categories)
    ]
    n = len(pairs)
    for i, (prompt, answer, origin) in enumerate(pairs):
        for k in range(n // 2, n // 2 + n):
            other = pairs[(i + k) % n][1]
            if other.strip() != answer.strip():
                yield Record(origin, {"prompt": prompt, "chosen": answer, "rejected": other})
                break


CORPORA: dict[str, Callable[[list[str]], Iterator[Record]]] = {
    "chatterbot": chatterbot_records,
    "chatterbot_prefs": chatterbot_preference_records,
    "wordnet_glosses": debian_corpora.wordnet_glosses,
    "wordnet_definitions": debian_corpora.wordnet_definitions,
    "fortunes": debian_corpora.fortunes,
    "debian_policy": debian_corpora.debian_policy,
    "iso_country_names": debian_corpora.iso_country_names,
    "iso_country_codes": debian_corpora.iso_country_codes,
    "iso_entities": debian_corpora.iso_entities,
    "wordnet_supersenses": head_corpora.wordnet_supersenses,
    "policy_entities": head_corpora.policy_entities,
    "wordnet_gloss_qa": head_corpora.wordnet_gloss_qa,
}


def corpus_records(name: str, categories: list[str]) -> Iterator[Record]:
    """Records of a bundled corpus by name."""
    if name not in CORPORA:
        raise UserError(
            f"dataset.source='{name}' is not a bundled corpus. Allowed: {allowed_list(CORPORA)}."
            + did_you_mean(name, CORPORA)
        )
    return CORPORA[name](categories)
