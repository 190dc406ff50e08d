"""optim.lr=auto: typed (a float or the string auto, anything else exits 2 naming the key), and
end to end the LR finder's suggestion is what the run trains at, recorded in the run dir and the
card, the run being the same as one with that LR typed by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from framework.config.strict import strict_problems
from framework.config.validate import all_problems
from tests.helpers import TINY, compose_config, run_dirs, run_train


@pytest.mark.parametrize("value", ["auto", "0.001", "1", "2e-4"])
def test_auto_and_numbers_are_accepted(value: str) -> None:
    assert all_problems(compose_config([f"optim.lr={value}"])) == []


@pytest.mark.parametrize("value", ["abc", "Auto", "true", "[0.1]", "'0.001'"])
def test_other_values_name_the_key_and_what_is_allowed(value: str) -> None:
    problems = strict_problems(compose_config([f"optim.lr={value}"]))
    assert len(problems) == 1
    assert problems[0].startswith("optim.lr=") and "must be a float" in problems[0]
    assert "or auto" in problems[0]


def test_a_number_out_of_range_is_still_refused() -> None:
    problems = all_problems(compose_config(["optim.lr=11"]))
    assert problems == ["optim.lr=11 is out of range (greater than 0.0, at most 10.0)"]


def _losses(run_dir: Path) -> list[float]:
    with (run_dir / "logs/metrics.csv").open() as handle:
        return [float(r["train/loss"]) for r in csv.DictReader(handle) if r["train/loss"]]


@pytest.mark.e2e
def test_auto_trains_at_the_finders_suggestion_like_a_typed_lr(tmp_path: Path) -> None:
    base = [a for a in TINY if not a.startswith("optim.lr")] + ["run.save_checkpoints=false"]
    result = run_train([*base, "optim.lr=auto"], tmp_path / "auto", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LR finder: suggested optim.lr=" in result.stdout
    (run_dir,) = run_dirs(tmp_path / "auto")
    found = json.loads((run_dir / "lr_finder.json").read_text())["suggested_lr"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["lr_auto"] is True and metrics["lr_found"] == found > 0
    assert metrics["steps"] == 4  # the finder's sweep steps are not training steps
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["lr"] == found
    card = (run_dir / "README.md").read_text()
    assert "## Learning rate" in card and "optim.lr=auto" in card
    assert (run_dir / "lr_finder.png").is_file()
    # The same run with the suggestion typed by hand: the same losses, step for step.
    typed = run_train([*base, f"optim.lr={found!r}"], tmp_path / "typed", timeout=900)
    assert typed.returncode == 0, typed.stderr[-3000:]
    (typed_dir,) = run_dirs(tmp_path / "typed")
    assert _losses(run_dir) == _losses(typed_dir) and len(_losses(run_dir)) == 4
