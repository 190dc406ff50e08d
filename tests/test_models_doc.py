"""docs/models.md (written by `make models-doc`) has a row for every model preset."""

from __future__ import annotations

from tests.helpers import ROOT


def test_every_model_preset_has_a_row() -> None:
    text = (ROOT / "docs" / "models.md").read_text()
    presets = [
        p.stem for p in (ROOT / "conf" / "model").glob("*.yaml") if not p.stem.startswith("tiny")
    ]
    missing = [p for p in presets if f"| `{p}` |" not in text]
    assert not missing, f"docs/models.md lacks {missing}: run `make models-doc`"
