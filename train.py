"""Fine-tune a language model from composed configs: `python train.py method=dora ...`."""

from pathlib import Path

from framework.cli.main import run


def task(cfg):  # type: ignore[no-untyped-def]
    """Hydra's task function: one composed run (imports the heavy stack lazily)."""
    from framework.run import train

    return train(cfg)


if __name__ == "__main__":
    run(Path(__file__).resolve().parent, task)
