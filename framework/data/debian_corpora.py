"""Corpora read from installed Debian packages: wordnet-base, fortunes-min, iso-codes, policy."""

from __future__ import annotations

import gettext
import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

from framework.data.readers import Record
from framework.errors import UserError

WORDNET = Path("/usr/share/wordnet")
FORTUNES = Path("/usr/share/games/fortunes")
ISO_CODES = Path("/usr/share/iso-codes/json")
LOCALE = Path("/usr/share/locale")
POLICY = Path("/usr/share/doc/debian-policy")
POLICY_DOCUMENTS = {"policy": "policy.txt.gz", "fhs": "fhs/fhs-3.0.txt.gz"}
POS = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def need_file(path: Path, package: str) -> Path:
    """`path`, or a UserError naming the Debian package that installs it."""
    if not path.exists():
        raise UserError(
            f"{path} is missing: install the Debian package with `apt-get install -y {package}` "
            "(.ci/run does this)"
        )
    return path


def wordnet_entries(pos: str) -> Iterator[tuple[str, list[str], str]]:
    """(file:line, the line's space-separated fields, its first gloss) of each synset in
    WordNet's data.<pos> (fields[1]: the lexicographer file number; fields[4]: the first word)."""
    file = need_file(WORDNET / f"data.{pos}", "wordnet-base")
    with file.open(encoding="latin-1") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(" ") or "|" not in line:
                continue  # the licence header
            gloss = line.split("|", 1)[1].split(";")[0].strip()
            yield f"{file}:{number}", line.split(), gloss


def wordnet_glosses(categories: list[str]) -> Iterator[Record]:
    """WordNet 3.0 glosses labelled with their part of speech (text classification)."""
    for pos in categories or list(POS):
        for origin, fields, gloss in wordnet_entries(pos):
            word = fields[4].replace("_", " ")
            yield Record(origin, {"text": gloss, "label": POS[pos], "word": word})


def wordnet_definitions(categories: list[str]) -> Iterator[Record]:
    """ "Define <word>" -> its WordNet gloss (instruction format, question answering)."""
    for record in wordnet_glosses(categories):
        word = record.fields["word"]
        yield Record(
            record.origin,
            {"instruction": f"Define the word '{word}'.", "output": record.fields["text"]},
        )


def fortunes(categories: list[str]) -> Iterator[Record]:
    """fortune-mod cookies (fortunes, literature, riddles): raw text, one cookie per row."""
    for name in categories or ["fortunes", "literature", "riddles"]:
        file = need_file(FORTUNES / name, "fortunes-min")
        text: list[str] = []
        start = 1
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() == "%":
                if text:
                    yield Record(f"{file}:{start}", {"text": "\n".join(text).strip()})
                text, start = [], number + 1
            else:
                text.append(line)
        if text:
            yield Record(f"{file}:{start}", {"text": "\n".join(text).strip()})


def debian_policy(categories: list[str]) -> Iterator[Record]:
    """Debian Policy and the FHS as raw text, one paragraph per row (domain adaptation)."""
    for name in categories or list(POLICY_DOCUMENTS):
        if name not in POLICY_DOCUMENTS:
            raise UserError(
                f"dataset.categories: '{name}' is not a debian-policy document. "
                f"Allowed: {', '.join(POLICY_DOCUMENTS)}."
            )
        file = need_file(POLICY / POLICY_DOCUMENTS[name], "debian-policy")
        with gzip.open(file, "rt", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        paragraph: list[str] = []
        start = 1
        for number, line in enumerate([*lines, ""], start=1):
            if line.strip():
                if not paragraph:
                    start = number
                paragraph.append(line.strip())
                continue
            text = " ".join(paragraph)
            paragraph = []
            # Prose only: skip headings, table-of-contents entries and short fragments.
            if len(text.split()) >= 20 and not text.startswith(("*", "|", "+")):
                yield Record(f"{file}:{start}", {"text": text})


def _countries() -> list[dict[str, str]]:
    file = need_file(ISO_CODES / "iso_3166-1.json", "iso-codes")
    return list(json.loads(file.read_text(encoding="utf-8"))["3166-1"])


def iso_country_names(categories: list[str]) -> Iterator[Record]:
    """English country names and their translations (iso-codes gettext catalogues)."""
    languages = categories or ["fr"]
    for lang in languages:
        mo = need_file(LOCALE / lang / "LC_MESSAGES" / "iso_3166-1.mo", "iso-codes")
        with mo.open("rb") as handle:
            catalogue = gettext.GNUTranslations(handle)
        for index, country in enumerate(_countries(), start=1):
            english = country["name"]
            translated = catalogue.gettext(english)
            if translated != english:
                yield Record(f"{mo}#{index}", {"source": english, "target": translated})


def iso_country_codes(categories: list[str]) -> Iterator[Record]:
    """Extractive QA over one-sentence country facts (ISO 3166-1 codes)."""
    file = ISO_CODES / "iso_3166-1.json"
    for index, c in enumerate(_countries(), start=1):
        context = f"{c['name']} has the ISO code {c['alpha_2']} and the long code {c['alpha_3']}."
        asks_long = index % 2 == 0
        answer = c["alpha_3"] if asks_long else c["alpha_2"]
        question = f"What is the {'long' if asks_long else 'ISO'} code of {c['name']}?"
        start = context.index(f" {answer}", len(c["name"])) + 1
        answers = {"text": [answer], "answer_start": [start]}
        yield Record(
            f"{file}#{index}", {"context": context, "question": question, "answers": answers}
        )


def iso_entities(categories: list[str]) -> Iterator[Record]:
    """Templated sentences tagging countries (LOC) and currencies (CUR) in BIO (iso-codes)."""
    currencies_file = need_file(ISO_CODES / "iso_4217.json", "iso-codes")
    currencies = [c["name"] for c in json.loads(currencies_file.read_text())["4217"]]
    countries = [c["name"] for c in _countries() if "," not in c["name"]]
    rng = random.Random(0)
    templates = [
        ("we paid in {cur} when we visited {loc} .", None),
        ("{loc} does not use the {cur} anymore .", None),
        ("a trip to {loc} costs a lot of {cur} .", None),
    ]
    for index in range(len(countries)):
        template = templates[index % len(templates)][0]
        loc, cur = countries[index], rng.choice(currencies)
        tokens: list[str] = []
        tags: list[str] = []
        for word in template.split():
            if word in ("{loc}", "{cur}"):
                kind = "LOC" if word == "{loc}" else "CUR"
                parts = (loc if kind == "LOC" else cur).split()
                tokens += parts
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(parts) - 1)
            else:
                tokens.append(word)
                tags.append("O")
        yield Record(f"{currencies_file}#{index + 1}", {"tokens": tokens, "tags": tags})
