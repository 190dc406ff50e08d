"""Tokenized-dataset cache: encoded splits stored as JSON under the cache dir, content-keyed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from framework.data.encoders import Classified, EncodeStats, Span
from framework.data.preference_encoder import PreferenceExample
from framework.data.render import Encoded
from framework.data.rows import Row

log = logging.getLogger(__name__)

# Bump when an encoder's output changes for the same rows, settings and tokenizer.
ENCODER_VERSION = 3  # 2: chat masks derived from inference prompts; 3: best-fit packing
EXAMPLE_TYPES: dict[str, type[Any]] = {
    "Encoded": Encoded,
    "Classified": Classified,
    "Span": Span,
    "PreferenceExample": PreferenceExample,
}


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """What makes a tokenizer: name, size, special tokens, vocabulary and chat template."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()))
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
    return {
        "class": type(tokenizer).__name__,
        "name_or_path": str(tokenizer.name_or_path),
        "size": len(tokenizer),
        "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        "vocab_sha256": hashlib.sha256(vocab.encode()).hexdigest(),
        "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
    }


def encoder_settings(encoder: Any) -> dict[str, Any]:
    """Every option an encoder holds (all its attributes but the tokenizer), by class."""
    options = {k: v for k, v in sorted(vars(encoder).items()) if k != "tokenizer"}
    return {"class": type(encoder).__name__, "options": options}


def cache_key(splits: Sequence[Sequence[Row]], encoder: Any) -> str:
    """Hash of the rows (as parsed and split, in order), the encoder and its tokenizer.

    The rows stand for the source's contents and every loading option (format, columns,
    labels, split, limit, shuffle): a change to any of them changes some row or the order.
    """
    digest = hashlib.sha256()
    header = {
        "encoder_version": ENCODER_VERSION,
        "encoder": encoder_settings(encoder),
        "tokenizer": tokenizer_identity(encoder.tokenizer),
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for rows in splits:
        digest.update(b"\x00split\x00")
        for row in rows:
            digest.update(repr(row).encode())
            digest.update(b"\n")
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Cached:
    """Encoded examples and their stats, per split name."""

    examples: dict[str, list[Any]]
    stats: dict[str, EncodeStats]


class EncodedCache:
    """One JSON file per key under `folder`, written atomically (tmp + rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> Cached | None:
        """The cached splits of a key; None when absent or unreadable (then re-encoded)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Cached(
                {name: [_decode(e) for e in rows] for name, rows in data["examples"].items()},
                {name: EncodeStats(**s) for name, s in data["stats"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "tokenized dataset: unreadable cache file %s (%s); re-encoding", path, error
            )
            return None

    def store(self, key: str, cached: Cached) -> Path:
        """Write the splits; concurrent writers (DDP ranks) each rename a complete file."""
        path = self.path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "encoder_version": ENCODER_VERSION,
            "examples": {
                name: [_encode(e) for e in rows] for name, rows in cached.examples.items()
            },
            "stats": {name: asdict(s) for name, s in cached.stats.items()},
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        return path


def _encode(example: Any) -> dict[str, Any]:
    values = {f.name: getattr(example, f.name) for f in fields(example)}
    return {"type": type(example).__name__, **values}


def _decode(data: dict[str, Any]) -> Any:
    values = dict(data)
    kind = EXAMPLE_TYPES[values.pop("type")]
    if kind is Span:  # JSON has no tuples
        values["offsets"] = [tuple(o) if o is not None else None for o in values["offsets"]]
        values["answers"] = tuple(values["answers"])
    if kind is PreferenceExample:
        values["replies"] = tuple(values["replies"])
    return kind(**values)
