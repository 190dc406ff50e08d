"""Install the throwaway entry-point method package (tests/fixtures) into a temp folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from framework.methods.discovery import load_entry_points
from tests.helpers import ROOT

PACKAGE_SOURCE = ROOT / "tests" / "fixtures" / "entry_point_plugin"
ENTRY_POINT_METHOD = "lora_fa"
_installed: list[Path] = []


def pip_install_target(source: Path, site: Path) -> None:
    """`pip install --target site source`: offline, no dependencies, this venv's setuptools."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def install_entry_point_plugin(site: Path) -> Path:
    """Install once per session, put it on sys.path and load the `hydratune.methods` group."""
    if not _installed:
        build = site.parent / (site.name + "-src")
        shutil.copytree(PACKAGE_SOURCE, build)  # pip builds in place: keep the repo clean
        pip_install_target(build, site)
        sys.path.insert(0, str(site))
        _installed.append(site)
    load_entry_points()
    return _installed[0]
