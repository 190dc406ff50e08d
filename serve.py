"""Fine-tuning as a service: `python serve.py [port=8000 data_dir=...]` (OpenAI-shaped API)."""

from pathlib import Path

from framework.service.main import run

if __name__ == "__main__":
    run(Path(__file__).resolve().parent)
