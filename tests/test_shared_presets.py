"""Shared presets: a pip-installed package with a SearchPathPlugin adds presets to every group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, TINY, run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

PLUGIN = """
from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class TeamPresetsSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="team-presets", path="pkg://team_presets/conf")
"""

FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "team-presets"\nversion = "1.2.0"\n'
        "[tool.setuptools.packages.find]\n"
        'include = ["team_presets*", "hydra_plugins*"]\nnamespaces = true\n'
        '[tool.setuptools.package-data]\nteam_presets = ["conf/*/*.yaml"]\n'
    ),
    "team_presets/__init__.py": '"""Team presets."""\n',
    "team_presets/conf/__init__.py": "",
    "team_presets/conf/method/team_lora.yaml": (
        "# The team's LoRA: rank 12, alpha 24, on attention only.\n"
        "defaults:\n  - lora\n  - _self_\n\nr: 12\nalpha: 24\n"
        "target_modules: [q_proj, k_proj, v_proj, o_proj]\n"
    ),
    "team_presets/conf/optim/team_fast.yaml": (
        "# The team's fast AdamW.\nname: adamw\nlr: 0.005\nscheduler: constant\nwarmup_steps: 0\n"
    ),
    "hydra_plugins/team_presets_searchpath/__init__.py": PLUGIN,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip-install the throwaway package into a target dir; return an env that sees it."""
    src = tmp_path_factory.mktemp("team_presets_src")
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
    )
    assert (site / "hydra_plugins" / "team_presets_searchpath" / "__init__.py").is_file()
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_package_presets_are_on_the_search_path(installed: dict[str, str], tmp_path: Path) -> None:
    result = run_train(["--info", "searchpath"], tmp_path, extra_env=installed, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "team-presets" in result.stdout and "pkg://team_presets.conf" in result.stdout


def test_presets_listing_shows_package_presets(installed: dict[str, str]) -> None:
    env = {**os.environ, **installed}
    result = subprocess.run(
        [sys.executable, "-m", "framework.cli.list_presets"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "team_lora" in result.stdout
    assert "The team's LoRA: rank 12, alpha 24, on attention only." in result.stdout
    assert "[team-presets]" in result.stdout
    for preset in ("smollm2_135m", "lora", "chatterbot", "grid", "optuna"):
        assert preset in result.stdout


def test_a_run_composed_from_package_presets_trains(
    installed: dict[str, str], tmp_path: Path
) -> None:
    result = run_train(
        [*TINY, "method=team_lora", "optim=team_fast"], tmp_path, extra_env=installed
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    config = (run_dir / "config.yaml").read_text()
    assert "  r: 12\n" in config and "scheduler: constant" in config  # lr: TINY overrides it
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # rank 12 on q, k, v, o of 2 layers: 12 * ((64+64) + (64+32) + (64+32) + (64+64)) per layer
    assert metrics["trainable_parameters"] == 2 * 12 * (128 + 96 + 96 + 128)
