"""`make gpu-wheels`: the wheels a no-network GPU machine (torch with CUDA, Lightning, PEFT and
transformers already there) lacks for `make gpu-check`, under .whl/ and under 64 MiB.

The versions are the ones installed here. Pure-Python packages are downloaded (or built, for
antlr4's sdist) with --no-deps; bitsandbytes is the manylinux x86_64 CUDA wheel; DeepSpeed is
built here as a wheel with DS_BUILD_OPS=0 (its ops compile just in time on the GPU machine).

    .venv/bin/python bench/gpu_wheels.py            # prepare .whl/
    .venv/bin/python bench/gpu_wheels.py --check    # list .whl/ and its size only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / ".whl"
LIMIT_MIB = 64.0
PURE = ("hydra-core", "omegaconf")
BUILT = ("antlr4-python3-runtime",)  # sdist only on PyPI: built into a wheel here
PLATFORM = "manylinux_2_24_x86_64"


def pin(name: str) -> str:
    return f"{name}=={metadata.version(name)}"


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})


def prepare(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pip("download", "--no-deps", "-d", str(folder), *[pin(n) for n in PURE])
    pip("wheel", "--no-deps", "-w", str(folder), *[pin(n) for n in BUILT])
    pip("download", "--no-deps", "--only-binary=:all:", "--platform", PLATFORM,
        "-d", str(folder), pin("bitsandbytes"))  # fmt: skip
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(folder), pin("deepspeed"),
        env={"DS_BUILD_OPS": "0"})  # fmt: skip


def wheels(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl")) if folder.is_dir() else []


def size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in wheels(folder)) / 2**20


def missing(folder: Path) -> list[str]:
    """Packages with no wheel in `folder`."""
    names = [n.replace("-", "_").lower() for n in (*PURE, *BUILT, "bitsandbytes", "deepspeed")]
    found = {p.name.split("-")[0].lower() for p in wheels(folder)}
    return [n for n in names if n not in found]


def report(folder: Path) -> int:
    for path in wheels(folder):
        print(f"  {path.name}  {path.stat().st_size / 2**20:.1f} MiB")
    total, lacking = size_mib(folder), missing(folder)
    print(f"{folder}: {len(wheels(folder))} wheels, {total:.1f} MiB (limit {LIMIT_MIB:.0f} MiB)")
    if lacking:
        print(f"missing: {', '.join(lacking)} (run `make gpu-wheels`)", file=sys.stderr)
        return 2
    if total >= LIMIT_MIB:
        print(f"{folder} is {total:.1f} MiB, over {LIMIT_MIB:.0f} MiB", file=sys.stderr)
        return 2
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=FOLDER)
    parser.add_argument("--check", action="store_true", help="only list the folder and its size")
    args = parser.parse_args()
    if not args.check:
        prepare(args.folder)
    return report(args.folder)


if __name__ == "__main__":
    sys.exit(main())
