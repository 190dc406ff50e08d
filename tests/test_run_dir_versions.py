"""evaluate/generate/export read run dirs of older versions, and refuse newer or corrupt ones
naming the version and the keys (no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from framework import __version__
from framework.errors import UserError
from framework.inference.run_dir import read_run_config
from framework.training.artifacts import run_config_yaml
from tests.helpers import compose_config


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return config


def test_the_run_config_is_stamped_with_the_version(tmp_path: Path) -> None:
    config = write(tmp_path, run_config_yaml(compose_config(["paths.run_dir=/runs/x"])))
    cfg = read_run_config(config)
    assert cfg.hydratune.version == __version__ and cfg.model.name == "tiny"


def test_an_older_run_config_is_read(tmp_path: Path) -> None:
    old = OmegaConf.to_container(compose_config([]), resolve=False)
    old["dataset"]["task"] = "causal_lm"  # type: ignore[index]  # what older versions wrote
    del old["run"]["resume_changes"]  # type: ignore[index,union-attr]  # added since
    config = write(tmp_path, OmegaConf.to_yaml(old))
    assert read_run_config(config).model.name == "tiny"


def test_a_newer_run_config_is_refused_naming_versions_and_keys(tmp_path: Path) -> None:
    text = run_config_yaml(compose_config(["paths.run_dir=/runs/x"])).replace(__version__, "9.9.0")
    config = write(tmp_path, text.replace("  seed: 42\n", "  seed: 42\n  shiny_new: 1\n"))
    with pytest.raises(UserError, match=rf"written by hydratune 9\.9\.0; this is {__version__}"):
        read_run_config(config)
    with pytest.raises(UserError, match="run.shiny_new"):
        read_run_config(config)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("model: [unclosed\n", "config.yaml:2: not readable YAML"), ("- a list\n", "not a hydratune")],
)
def test_a_corrupt_run_config_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        read_run_config(write(tmp_path, text))
