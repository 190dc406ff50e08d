"""hydratune: config-driven fine-tuning of language models (Hydra + Lightning + PEFT)."""

__version__ = "0.1.0"
