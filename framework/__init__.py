"""hydratune: config-driven fine-tuning of language models (Hydra + Lightning + PEFT)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hydratune")  # pyproject.toml is the one place it is written
except PackageNotFoundError:  # a checkout used without `pip install -e .`
    __version__ = "0+unknown"
