"""The second head-task corpora (framework.data.head_corpora) read real Debian package text."""

from __future__ import annotations

from collections import Counter

import pytest

from framework.data.head_corpora import (
    bio_tags,
    control_fields,
    policy_entities,
    wordnet_gloss_qa,
    wordnet_supersenses,
    words,
)
from framework.errors import UserError

NOUN_LEXNAMES = {
    "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body",
    "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food",
    "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity",
    "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
}  # fmt: skip


def test_supersenses_are_the_26_noun_files_and_imbalanced() -> None:
    rows = list(wordnet_supersenses([]))
    counts = Counter(r.fields["label"] for r in rows)
    assert len(rows) == 82115  # every noun synset of WordNet 3.0
    assert set(counts) == NOUN_LEXNAMES
    shares = sorted(n / len(rows) for n in counts.values())
    assert shares[-1] < 0.2 and shares[0] < 0.001  # artifact ~14%, motive ~0.05%
    by_gloss = {r.fields["text"]: r.fields["label"] for r in rows}
    dog = "a member of the genus Canis (probably descended from the common wolf) that has been "
    assert by_gloss[dog + "domesticated by man since prehistoric times"] == "noun.animal"
    assert by_gloss["a person who works at a specific occupation"] == "noun.person"


def test_supersenses_of_verbs_and_a_bad_category() -> None:
    labels = {r.fields["label"] for r in wordnet_supersenses(["verb"])}
    assert len(labels) == 15 and all(label.startswith("verb.") for label in labels)
    with pytest.raises(UserError, match="'nouns' is not a WordNet part of speech"):
        list(wordnet_supersenses(["nouns"]))


def test_words_split_quotes_and_punctuation_but_not_paths() -> None:
    assert words('Install it in "/usr/share/doc/foo/", see "Depends".') == [
        "Install", "it", "in", '"', "/usr/share/doc/foo/", '"', ",", "see", '"', "Depends", '"',
        ".",
    ]  # fmt: skip


def test_bio_tags_need_a_leading_slash_or_a_quoted_field() -> None:
    fields = control_fields()
    assert {"Depends", "Standards-Version", "Section", "Package"} <= fields
    tokens = words('The "Section" field (see Section 2) and "Build-Depends" name /etc files.')
    tags = dict(zip(tokens, bio_tags(tokens, fields), strict=True))
    assert tags["Build-Depends"] == "B-FIELD" and tags["/etc"] == "B-PATH"
    assert bio_tags(tokens, fields)[2] == "B-FIELD"  # the quoted "Section"
    assert tags["Section"] == "O"  # the last "Section" is prose (unquoted)


def test_policy_entities_are_real_sentences_mostly_o() -> None:
    rows = list(policy_entities([]))
    assert len(rows) > 1000
    tags = Counter(t for r in rows for t in r.fields["tags"])
    assert set(tags) == {"O", "B-PATH", "B-FIELD"}
    assert 0.9 < tags["O"] / sum(tags.values()) < 0.99
    assert tags["B-PATH"] > 500 and tags["B-FIELD"] > 100
    with_entity = sum(1 for r in rows if set(r.fields["tags"]) != {"O"})
    assert with_entity == len(rows) - with_entity  # as many sentences without an entity
    for row in rows:
        toks, row_tags = row.fields["tokens"], row.fields["tags"]
        assert len(toks) == len(row_tags) and 6 <= len(toks) <= 48
        for token, tag in zip(toks, row_tags, strict=True):  # single-word entities: B- only
            assert tag == "O" or (tag == "B-PATH") == token.startswith("/")
    copyright_rows = [r for r in rows if "/usr/share/doc/PACKAGE/copyright" in r.fields["tokens"]]
    assert copyright_rows
    tokens = copyright_rows[0].fields["tokens"]
    assert copyright_rows[0].fields["tags"][tokens.index("/usr/share/doc/PACKAGE/copyright")] == (
        "B-PATH"
    )
    assert rows == list(policy_entities([]))  # the sample of plain sentences is seeded


def test_policy_entities_of_the_fhs_only() -> None:
    rows = list(policy_entities(["fhs"]))
    assert rows and all("fhs-3.0.txt.gz" in r.origin for r in rows)
    with pytest.raises(UserError, match="'faq' is not a debian-policy document"):
        list(policy_entities(["faq"]))


def test_gloss_qa_answers_are_exact_spans_after_their_word() -> None:
    rows = list(wordnet_gloss_qa([]))
    assert len(rows) > 20000
    sizes: Counter[int] = Counter()
    for row in rows:
        context, answers = row.fields["context"], row.fields["answers"]
        (text,), (start,) = answers["text"], answers["answer_start"]
        assert context[start : start + len(text)] == text
        word = row.fields["question"].removeprefix("What does '").removesuffix("' mean?")
        assert context[: start - 2].endswith(word) and context[start - 2 : start] == ": "
        assert context[start + len(text)] == "."
        sizes[context.count(". ") + 1] += 1
    assert sizes[3] > 0.4 * len(rows) and sizes[4] > 0.4 * len(rows)  # 3 or 4 glosses
    lengths = [len(r.fields["answers"]["text"][0].split()) for r in rows]
    assert sum(lengths) / len(lengths) > 8 and min(lengths) >= 4  # whole glosses, not codes
    assert rows[:50] == list(wordnet_gloss_qa([]))[:50]  # the passages are seeded


def test_gloss_qa_of_verbs_asks_about_verbs() -> None:
    rows = list(wordnet_gloss_qa(["verb"]))
    assert rows and all("data.verb" in r.origin for r in rows)
