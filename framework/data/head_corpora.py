"""Second corpora for the head tasks, distributed unlike the first ones (Debian packages).

seq_cls: a noun gloss -> its WordNet lexicographer file (26 naturally imbalanced classes);
token_cls: real Debian Policy / FHS sentences with file paths and control-field names in BIO
(most tags "O"); qa: a passage of 3 or 4 glosses, "What does 'X' mean?" -> X's whole gloss.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Iterator

from framework.data.debian_corpora import (
    POLICY,
    POLICY_DOCUMENTS,
    debian_policy,
    need_file,
    wordnet_entries,
    wordnet_glosses,
)
from framework.data.readers import Record
from framework.errors import UserError

# lexnames(5WN): the lexicographer files, by lex_filenum (WordNet 3.0; wordnet-base does not
# ship the lexnames file).
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
WORDNET_POS = ("noun", "verb", "adj", "adv")


def _pos_files(categories: list[str], default: list[str]) -> list[str]:
    for pos in categories:
        if pos not in WORDNET_POS:
            raise UserError(
                f"dataset.categories: '{pos}' is not a WordNet part of speech. "
                f"Allowed: {', '.join(WORDNET_POS)}."
            )
    return categories or default


def wordnet_supersenses(categories: list[str]) -> Iterator[Record]:
    """A WordNet gloss -> its lexicographer file (supersense, e.g. noun.artifact); nouns by
    default (categories: noun, verb, adj, adv)."""
    for pos in _pos_files(categories, ["noun"]):
        for origin, fields, gloss in wordnet_entries(pos):
            yield Record(origin, {"text": gloss, "label": LEXNAMES[int(fields[1])]})


# Policy text renders literals in double quotes; a token is split off these at its edges.
_LEAD, _TRAIL = "\"'([", "\"'),.;:]?!"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_FIELD_HEADING = re.compile(r"^5\.6\.\d+\. (.*)$")
_HYPHENATED_FIELD = re.compile(r"[A-Z][A-Za-z0-9]*(-[A-Z][A-Za-z0-9]*)+")


def words(sentence: str) -> list[str]:
    """Whitespace words with leading/trailing quotes, brackets and punctuation split off."""
    out: list[str] = []
    for chunk in sentence.split():
        lead: list[str] = []
        trail: list[str] = []
        while chunk and chunk[0] in _LEAD:
            lead.append(chunk[0])
            chunk = chunk[1:]
        while chunk and chunk[-1] in _TRAIL:
            trail.insert(0, chunk[-1])
            chunk = chunk[:-1]
        out += [*lead, *([chunk] if chunk else []), *trail]
    return out


def control_fields() -> set[str]:
    """The control-field names Debian Policy section 5.6 defines (its headings)."""
    file = need_file(POLICY / POLICY_DOCUMENTS["policy"], "debian-policy")
    with gzip.open(file, "rt", encoding="utf-8") as handle:
        headings = [m.group(1) for m in map(_FIELD_HEADING.match, handle) if m]
    return {name for heading in headings for name in re.findall(r'"([\w-]+)"', heading)}


def bio_tags(tokens: list[str], fields: set[str]) -> list[str]:
    """PATH: a word starting with '/' that names something; FIELD: a quoted control-field name
    (a Policy 5.6 field or a hyphenated capitalised name such as "Build-Depends")."""
    tags = []
    for i, word in enumerate(tokens):
        quoted = 0 < i < len(tokens) - 1 and tokens[i - 1] == tokens[i + 1] == '"'
        if word.startswith("/") and any(c.isalpha() for c in word):
            tags.append("B-PATH")
        elif quoted and (word in fields or _HYPHENATED_FIELD.fullmatch(word)):
            tags.append("B-FIELD")
        else:
            tags.append("O")
    return tags


def policy_entities(categories: list[str]) -> Iterator[Record]:
    """Sentences of Debian Policy and the FHS (categories: policy, fhs) as words tagged BIO for
    file paths and control fields: every sentence with an entity plus as many without (a seeded
    sample), in document order. Sentences of 6 to 48 words."""
    fields = control_fields()
    sentences: list[tuple[str, list[str], list[str]]] = []
    for record in debian_policy(categories):
        for sentence in _SENTENCE_END.split(record.fields["text"]):
            tokens = words(sentence)
            if 6 <= len(tokens) <= 48:
                sentences.append((record.origin, tokens, bio_tags(tokens, fields)))
    plain = [i for i, (_, _, tags) in enumerate(sentences) if set(tags) == {"O"}]
    tagged = len(sentences) - len(plain)
    keep = set(random.Random(0).sample(plain, min(tagged, len(plain))))
    for index, (origin, tokens, tags) in enumerate(sentences):
        if index in keep or set(tags) != {"O"}:
            yield Record(f"{origin}#{index}", {"tokens": tokens, "tags": tags})


def _lemma(word: str) -> str:
    return re.sub(r"\([a-z]+\)$", "", word)  # adjective markers: able(a), ...(ip)


def wordnet_gloss_qa(categories: list[str]) -> Iterator[Record]:
    """Extractive QA over passages of 3 or 4 glosses ("X: gloss. Y: gloss. ..."): "What does
    'X' mean?" -> X's gloss. Glosses of 4 to 20 words, each word once per passage; a seeded
    shuffle of nouns and verbs by default (categories: noun, verb, adj, adv)."""
    glosses = [
        (r.origin, _lemma(str(r.fields["word"])), str(r.fields["text"]))
        for r in wordnet_glosses(_pos_files(categories, ["noun", "verb"]))
        if 4 <= len(str(r.fields["text"]).split()) <= 20
    ]
    rng = random.Random(0)
    rng.shuffle(glosses)
    index = passage = 0
    while index + 4 <= len(glosses):
        size = 3 + passage % 2  # 3, 4, 3, 4, ... glosses
        group = glosses[index : index + size]
        index, passage = index + size, passage + 1
        if len({word.lower() for _, word, _ in group}) < size:
            continue  # two senses of one word: the question would be ambiguous
        asked = rng.randrange(size)
        context, start = "", 0
        for position, (_, word, gloss) in enumerate(group):
            if position == asked:
                start = len(context) + len(word) + 2
            context += f"{word}: {gloss}. "
        origin, word, gloss = group[asked]
        answers = {"text": [gloss], "answer_start": [start]}
        question = f"What does '{word}' mean?"
        yield Record(origin, {"context": context.strip(), "question": question, "answers": answers})
