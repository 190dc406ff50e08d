"""VeRA: frozen random low-rank matrices shared by all layers, with trained scaling vectors."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.config.schema import MethodConfig
from framework.methods.base import Capabilities
from framework.methods.peft_fields import TargetedPeftMethod
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class VeraConfig(MethodConfig):
    """VeRA hyper-parameters (names follow peft.VeraConfig)."""

    r: int = 256  # rank of the shared random matrices (cheap: only r scalars train per layer)
    dropout: float = 0.0
    d_initial: float = 0.1  # initial value of the trained d vector
    projection_prng_key: int = 0  # seed of the shared random projections
    save_projection: bool = True  # store the projections in the adapter (exact reload)
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("vera")
class VeRA(TargetedPeftMethod[VeraConfig]):
    """Vector-based random matrix adaptation: dW = diag(b) B diag(d) A with A, B frozen."""

    config_class = VeraConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=TASK_NAMES,
        description="shared frozen random projections, two trained vectors per layer",
    )
    peft_config = "VeraConfig"
    renamed = {"dropout": "vera_dropout"}
    ranges = {"r": (1, 65536), "dropout": (0, 0.99)}
