"""The remote environment's conda/pip spec, generated from pyproject.toml (never hand-copied)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Needed only where the job is submitted from, not where it runs.
SUBMIT_SIDE_ONLY = ("azure-ai-ml",)


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def pip_requirements(pyproject: Path) -> list[str]:
    """The project's runtime dependencies, as written in pyproject.toml, minus submit-side ones."""
    data = tomllib.loads(pyproject.read_text())
    deps = data["project"]["dependencies"]
    return [d for d in deps if _name(d) not in SUBMIT_SIDE_ONLY]


def conda_spec(pyproject: Path, python: str | None = None) -> dict[str, Any]:
    """A conda environment: this interpreter's Python version and pip installs the stack."""
    version = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "name": "hydratune",
        "channels": ["conda-forge"],
        "dependencies": [f"python={version}", "pip", {"pip": pip_requirements(pyproject)}],
    }
