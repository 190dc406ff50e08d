"""OFT: a learned block-diagonal orthogonal rotation of each target's input space (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.config.schema import MethodConfig
from framework.methods.base import Capabilities
from framework.methods.peft_fields import TargetedPeftMethod
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class OftConfig(MethodConfig):
    """OFT hyper-parameters (names follow peft.OFTConfig; r=0 derives blocks from the size)."""

    oft_block_size: int = 32  # must divide every target's input features
    module_dropout: float = 0.0
    coft: bool = False  # constrained OFT: keep the rotation within eps of identity
    eps: float = 6e-5
    block_share: bool = False  # one rotation block shared by all blocks of a layer
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("oft")
class OFT(TargetedPeftMethod[OftConfig]):
    """Orthogonal fine-tuning: W' = W R with R block-diagonal and orthogonal (Cayley)."""

    config_class = OftConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=TASK_NAMES,
        description="block-diagonal orthogonal rotation of inputs; preserves neuron angles",
    )
    peft_config = "OFTConfig"
    fixed = {"r": 0}
    ranges = {"oft_block_size": (1, 65536), "module_dropout": (0, 0.99)}
