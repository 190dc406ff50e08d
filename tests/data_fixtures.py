"""Small synthetic data files, one per format, written on demand for tests."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = ["paris", "london", "tokyo", "lima", "oslo", "cairo", "delhi", "rome"]
GOOD = ["great", "good", "excellent", "lovely", "wonderful"]
BAD = ["bad", "awful", "terrible", "poor", "horrible"]


def classification_csv(path: Path, rows: int = 120) -> Path:
    """sentence,sentiment rows (pos/neg decided by one word)."""
    rng = random.Random(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence", "sentiment"])
        for _ in range(rows):
            label = rng.choice(["pos", "neg"])
            word = rng.choice(GOOD if label == "pos" else BAD)
            writer.writerow([f"the film was {word} today", label])
    return path


def tagging_jsonl(path: Path, rows: int = 120) -> Path:
    """{"words": [...], "ner": [...]} rows with PER and LOC entities."""
    rng = random.Random(1)
    with path.open("w") as handle:
        for _ in range(rows):
            person, place = rng.choice(PEOPLE), rng.choice(PLACES)
            words = [person, "flew", "to", place, "today"]
            tags = ["B-PER", "O", "O", "B-LOC", "O"]
            handle.write(json.dumps({"words": words, "ner": tags}) + "\n")
    return path


def qa_jsonl(path: Path, rows: int = 120) -> Path:
    """SQuAD-style rows: the answer is the place in a one-sentence context."""
    rng = random.Random(2)
    with path.open("w") as handle:
        for _ in range(rows):
            person, place = rng.choice(PEOPLE), rng.choice(PLACES)
            context = f"{person} lives in {place} with a cat."
            answers = {"text": [place], "answer_start": [context.index(place)]}
            row = {"context": context, "question": f"Where does {person} live?", "answers": answers}
            handle.write(json.dumps(row) + "\n")
    return path


def instruction_jsonl(path: Path, rows: int = 64) -> Path:
    """Alpaca rows (instruction, input, output): repeat a word 1 to 12 times (varied lengths)."""
    rng = random.Random(3)
    with path.open("w") as handle:
        for _ in range(rows):
            word, times = rng.choice(PEOPLE + PLACES), rng.randint(1, 12)
            instruction = f"Repeat the word {times} times."
            row = {"instruction": instruction, "input": word, "output": " ".join([word] * times)}
            handle.write(json.dumps(row) + "\n")
    return path


def text_txt(path: Path, rows: int = 64) -> Path:
    """Raw text lines for domain adaptation."""
    rng = random.Random(4)
    lines = [f"{rng.choice(PEOPLE)} walked to {rng.choice(PLACES)}." for _ in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


FILLER = (
    "the a of and to in is was for on with as at by from it this that be are were has had "
    "not but or an they we you he she them said will would could about after before over "
    "under again new old big small day week year time city team game news"
).split()


def imbalanced_tagging_jsonl(path: Path, rows: int = 160, length: int = 20) -> Path:
    """NER rows where ~95% of tags are "O": filler words with one PER or LOC name each,
    at a random position (the imbalance of real social-media NER corpora)."""
    rng = random.Random(5)
    with path.open("w") as handle:
        for _ in range(rows):
            words = [rng.choice(FILLER) for _ in range(length - 1)]
            tags = ["O"] * (length - 1)
            at = rng.randrange(length)
            kind, names = rng.choice([("B-PER", PEOPLE), ("B-LOC", PLACES)])
            words.insert(at, rng.choice(names))
            tags.insert(at, kind)
            handle.write(json.dumps({"words": words, "ner": tags}) + "\n")
    return path
