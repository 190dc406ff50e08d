"""The `model` group: where weights and tokenizer come from, and the base-model factory."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from framework.models.source import ModelSource, resolve_source

if TYPE_CHECKING:
    from framework.models.quantization import QuantizationSpec


def build_source(model: DictConfig) -> ModelSource:
    """Where the model preset's weights and tokenizer come from."""
    return resolve_source(
        str(model.name), model.hub_id, model.local_path, model.gguf_package, model.gguf_file
    )


def build_tokenizer(model: DictConfig, source: ModelSource, cache_dir: Path) -> Any:
    """The model's tokenizer (with chat template), cached when converted from GGUF."""
    from framework.data.chat_templates import apply_chat_template_setting
    from framework.models.loader import load_tokenizer

    tokenizer = load_tokenizer(source, cache_dir, bool(model.trust_remote_code))
    return apply_chat_template_setting(tokenizer, model.chat_template)


def base_model_factory(
    cfg: DictConfig,
    *,
    tokenizer: Any,
    quantization: QuantizationSpec | None,
    labels: tuple[str, ...] = (),
) -> partial[Any]:
    """A zero-argument callable that loads the run's base with its task head.

    Training (configure_model) and inference (from a run's config.yaml) both build it here.
    """
    from framework.models.heads import load_task_model
    from framework.models.loader import BaseSpec

    model = cfg.model
    spec = BaseSpec(
        build_source(model),
        Path(str(cfg.paths.cache_dir)),
        str(model.dtype),
        bool(model.trust_remote_code),
        model.random_init,
        len(tokenizer),
        int(cfg.run.seed),
        quantization,
    )
    return partial(
        load_task_model,
        str(cfg.task.name),
        labels,
        str(model.architecture),
        int(tokenizer.pad_token_id),
        spec,
    )
