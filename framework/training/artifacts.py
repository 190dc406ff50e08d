"""Write the run dir: adapter (PEFT format) or model, tokenizer, config, metrics, card."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from framework.tasks.registry import task_spec
from framework.training.card_meta import CardMeta, base_model_of

if TYPE_CHECKING:
    from framework.training.module import FineTuneModule

log = logging.getLogger(__name__)

SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY", "PRIVATE_KEY")


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON to a temporary name then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text_atomically(path: Path, text: str) -> None:
    """Write text to a temporary name then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def redact(text: str) -> str:
    """Replace the values of secret-looking environment variables found in text."""
    for key, value in os.environ.items():
        if value and len(value) >= 6 and any(m in key.upper() for m in SECRET_MARKERS):
            text = text.replace(value, f"<redacted:{key}>")
    return text


def save_weights(model: Any, run_dir: Path, produces_adapter: bool) -> Path:
    """Save the adapter (PEFT format) or, for full fine-tuning, the whole model."""
    target = run_dir / ("adapter" if produces_adapter else "model")
    model.save_pretrained(str(target), safe_serialization=True)
    return target


def write_run_dir(
    cfg: DictConfig,
    *,
    net: Any,
    module: FineTuneModule,
    tokenizer: Any,
    val_batch: Any,
    metrics: dict[str, Any],
    command: str,
) -> None:
    """Rank 0, after training: weights (checked by a reload), tokenizer, samples, config,
    metrics.json, the model card and, on request, the merged model."""
    from framework.training.card_meta import provenance
    from framework.training.model_card import model_card
    from framework.training.reload_check import load_saved, max_logit_difference

    run_dir = Path(str(cfg.paths.run_dir))
    produces_adapter = module.method.capabilities.produces_adapter
    weights = save_weights(net, run_dir, produces_adapter)
    reloaded = load_saved(weights, module.build_base)
    metrics["reload_max_logit_diff"] = max_logit_difference(net, reloaded, val_batch)
    del reloaded
    tokenizer.save_pretrained(str(run_dir / "tokenizer"))
    samples = _write_samples(run_dir, module)
    if task_spec(str(cfg.task.name)).generative:
        metrics["chat_template_eos_ok"] = _check_eos(run_dir, net, cfg.dataset.system_prompt)
    write_text_atomically(run_dir / "config.yaml", redact(run_config_yaml(cfg)))
    write_json_atomically(run_dir / "metrics.json", metrics)
    card = model_card(
        run_name=str(cfg.run.name),
        command=command,
        model_name=str(cfg.model.name),
        method_name=str(cfg.method.name),
        dataset_name=str(cfg.dataset.name),
        metrics=metrics,
        weights_dir=weights.name,
        loss_curve=_loss_curve(run_dir, str(cfg.run.name)),
        run_dir=str(run_dir),
        samples=samples,
        meta=card_meta(cfg, produces_adapter),
        provenance=provenance(_preset_origins()),
    )
    write_text_atomically(run_dir / "README.md", redact(card))
    if cfg.run.merge and produces_adapter:  # refused before the run if not mergeable
        merged: Any = module.method.merge(net)  # last: folds in place
        merged.save_pretrained(str(run_dir / "merged"), safe_serialization=True)


def _preset_origins() -> dict[str, str]:
    """Which config source gave each group's preset (empty outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    from framework.training.card_meta import preset_origins

    if not HydraConfig.initialized():
        return {}
    runtime = HydraConfig.get().runtime
    choices = {str(k): str(v) for k, v in runtime.choices.items() if v is not None}
    sources = [(str(s.provider), f"{s.schema}://{s.path}") for s in runtime.config_sources]
    return preset_origins(choices, sources)


def card_meta(cfg: DictConfig, adapter: bool) -> CardMeta:
    """The model card's front matter values, read from the run's config."""
    model, dataset, spec = cfg.model, cfg.dataset, task_spec(str(cfg.task.name))
    data = str(dataset.path) if str(dataset.source) == "hub" and dataset.path else dataset.name
    return CardMeta(
        base_model=base_model_of(
            model.hub_id,
            model.local_path,
            model.gguf_package,
            model.gguf_file,
            str(model.name),
            random_init=model.random_init is not None,
        ),
        adapter=adapter,
        license=str(model.license),
        datasets=(str(data),),
        head=spec.head,
        tags=(str(cfg.method.name), str(cfg.task.name), str(model.architecture)),
    )


def run_config_yaml(cfg: DictConfig) -> str:
    """The resolved config, stamped with the hydratune version that wrote it."""
    from framework import __version__

    resolved = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.to_yaml({**resolved, "hydratune": {"version": __version__}})  # type: ignore[dict-item]


def _loss_curve(run_dir: Path, title: str) -> str | None:
    """Draw loss_curve.png from logs/metrics.csv; its name for the model card."""
    from framework.training.loss_curve import write_loss_curve

    png = run_dir / "loss_curve.png"
    return png.name if write_loss_curve(run_dir / "logs/metrics.csv", png, title) else None


def _write_samples(run_dir: Path, module: FineTuneModule) -> str | None:
    """samples.jsonl: the after-training generations (prompt, reference, generated)."""
    generation = module.generation
    if generation is None or not generation.samples:
        return None
    path = run_dir / "samples.jsonl"
    lines = [json.dumps(row, ensure_ascii=False) for row in generation.sample_rows()]
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path.name


def _check_eos(run_dir: Path, net: Any, system_prompt: str | None) -> bool:
    """Whether the saved chat template ends assistant turns with the EOS generation uses."""
    from framework.training.eos_check import check_saved_tokenizer

    check = check_saved_tokenizer(run_dir / "tokenizer", net, system_prompt)
    if check.ok:
        log.info("chat template / EOS check: ok (%s)", check.detail)
    else:
        log.warning("chat template / EOS check FAILED: %s", check.detail)
    return check.ok
