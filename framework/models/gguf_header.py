"""Read a GGUF file's metadata header (pure python: the checks before launch stay torch-free).

Only the key/value section is read (the tensors are never touched); the format is
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian, version 2 or 3).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

MAGIC = b"GGUF"
# value type -> struct format of one scalar (8: string, 9: array are read apart)
SCALARS = dict(zip((0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12), "BbHhIif?Qqd", strict=True))
STRING, ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a readable GGUF file."""


def _read(handle: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GGUFError("the file ends inside its header")
    return struct.unpack("<" + fmt, data)[0]


def _string(handle: IO[bytes]) -> str:
    length = _read(handle, "Q")
    data = handle.read(length)
    if len(data) != length:
        raise GGUFError("the file ends inside its header")
    return data.decode("utf-8", errors="replace")


def _value(handle: IO[bytes], kind: int) -> Any:
    if kind == STRING:
        return _string(handle)
    if kind == ARRAY:
        item, count = _read(handle, "I"), _read(handle, "Q")
        return [_value(handle, item) for _ in range(count)]
    if kind not in SCALARS:
        raise GGUFError(f"unknown metadata value type {kind}")
    return _read(handle, SCALARS[kind])


def gguf_metadata(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of `keys` in the file's metadata (absent keys are left out); stops reading
    once every key is found."""
    found: dict[str, Any] = {}
    with path.open("rb") as handle:
        if handle.read(4) != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (no GGUF magic)")
        version = _read(handle, "I")
        if version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {version} (2 or 3 are read)")
        _read(handle, "Q")  # tensor count
        for _ in range(_read(handle, "Q")):
            key, kind = _string(handle), _read(handle, "I")
            value = _value(handle, kind)
            if key in keys:
                found[key] = value
                if len(found) == len(keys):
                    break
    return found


def gguf_architecture(path: Path) -> str:
    """general.architecture of a GGUF file ('' when the header does not say)."""
    return str(gguf_metadata(path, ("general.architecture",)).get("general.architecture", ""))
