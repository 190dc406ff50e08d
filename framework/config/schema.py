"""Dataclass schemas for every config group, stored in Hydra's ConfigStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from framework.data.formats import COLUMN_FIELDS, FORMAT_NAMES
from framework.hardware.schema import CHOICES as HARDWARE_CHOICES
from framework.hardware.schema import HardwareConfig
from framework.models.architectures import ARCHITECTURES
from framework.tasks.registry import CAUSAL_LM, TASK_NAMES


@dataclass
class RandomInitConfig:
    """Build a small model with random weights (for tests) instead of loading weights."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 512


@dataclass
class ShapeConfig:
    """A decoder's published shape (its config.json), for the dry run's memory estimate and
    docs/models.md before any weight is on disk. A local config.json, when there, wins."""

    vocab: int = MISSING  # vocab_size
    hidden: int = MISSING  # hidden_size
    intermediate: int = MISSING  # intermediate_size
    layers: int = MISSING  # num_hidden_layers
    heads: int = MISSING  # num_attention_heads
    kv_heads: int = MISSING  # num_key_value_heads
    head_dim: int | None = None  # null: hidden / heads
    tied: bool = False  # tie_word_embeddings


@dataclass
class ModelConfig:
    """Where a base model comes from and how it is adapted by default."""

    name: str = MISSING
    description: str = ""
    architecture: str = MISSING  # one of ARCHITECTURES (selects default target modules)
    hub_id: str | None = None  # e.g. microsoft/Phi-3-mini-4k-instruct
    local_path: str | None = None  # a folder with config.json + safetensors
    gguf_package: str | None = None  # a pip package shipping a GGUF file
    gguf_file: str | None = None  # file name inside that package
    random_init: RandomInitConfig | None = None  # build from config, random weights
    shape: ShapeConfig | None = None  # hub/GGUF presets: the shape before weights are on disk
    target_modules: list[str] = field(default_factory=list)  # empty: architecture default
    trust_remote_code: bool = False
    dtype: str = "float32"
    # A named chat template (framework/data/templates: chatml, phi3, llama3, ...) or a path to
    # a .jinja file, set on the tokenizer (and saved with it); null: the tokenizer's own.
    chat_template: str | None = None
    license: str = ""  # the model's license (model card)


@dataclass
class MethodConfig:
    """How the model is fine-tuned (LoRA, QLoRA, ...): one subclass per method, its own fields."""

    name: str = MISSING


@dataclass
class DatasetConfig:
    """A dataset preset: where rows come from, their format and how they are rendered.

    The preset names its task in its defaults list (`override /task: seq_cls`); `task=` on
    the command line picks another (e.g. classification as generation with task=causal_lm).
    """

    name: str = MISSING
    description: str = ""
    license: str = ""
    source: str = "file"  # file (jsonl/json/csv/tsv/parquet/txt) | disk | hub | a bundled corpus
    path: str | None = None  # the file, the save_to_disk folder, or the hub id
    split: str = "train"  # for source=disk (a DatasetDict) and source=hub
    encoding: str = "utf-8"  # local text files; UTF-8 with or without a byte-order mark
    format: str = "auto"  # one of framework.data.formats.FORMAT_NAMES (auto: detected per row)
    # format field -> column name in the data (null: the field's own name)
    columns: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(COLUMN_FIELDS))
    labels: list[str] = field(default_factory=list)  # class labels or BIO tags; empty: inferred
    source_lang: str = ""  # translation: the language pair, shown in the prompt
    target_lang: str = ""
    on_bad_row: str = "error"  # error: stop with file:line | skip: drop it and count it
    categories: list[str] = field(default_factory=list)  # bundled corpus topics; empty: all
    system_prompt: str | None = None
    train_on_prompt: bool = False
    train_on: str = "all"  # chat rows: all (every assistant turn) | last_turn (the final reply)
    # causal LM: several examples per sequence (best fit into max_length), position ids restart
    # per example, no cross-attention (docs/performance.md)
    packing: bool = False
    # batches of rows of similar length (less padding): rows sorted by length within groups of
    # 50 batches, the batches shuffled; not with packing (packed sequences are all max_length)
    group_by_length: bool = False
    max_length: int = 128
    val_fraction: float = 0.05
    val_max_rows: int | None = 64
    limit: int | None = None  # use at most this many rows (after shuffling)
    batch_size: int = 8
    eval_batch_size: int = 16
    num_workers: int = 0
    shuffle_seed: int = 1234
    cache: bool = True  # keep tokenized splits under paths.cache_dir/datasets (content-keyed)


@dataclass
class PreferenceConfig:
    """Preference tasks (dpo, orpo, kto, simpo): hyperparameters (framework.tasks.preference)."""

    beta: float = 0.1  # DPO/KTO: strength of the pull to the reference; SimPO: reward scale
    loss: str = "sigmoid"  # dpo: sigmoid | ipo | hinge; simpo: sigmoid | hinge
    label_smoothing: float = 0.0  # sigmoid losses: probability the preference label is flipped
    simpo_gamma: float = 0.5  # SimPO's target reward margin
    orpo_lambda: float = 0.1  # ORPO: weight of the odds-ratio term next to the SFT loss
    kto_desirable_weight: float = 1.0  # KTO: lambda_D, weight of desirable rows
    kto_undesirable_weight: float = 1.0  # KTO: lambda_U, weight of undesirable rows
    # The reference model (dpo, kto): auto (adapter methods: the base with the adapter
    # disabled; full fine-tuning: log-probabilities computed once before training) |
    # adapter_off | precomputed | frozen_copy (a second, frozen copy of the base)
    reference: str = "auto"


@dataclass
class TaskConfig:
    """What is learnt and how it is scored: the model head, the loss and the metrics."""

    name: str = CAUSAL_LM  # one of framework.tasks.registry.TASK_NAMES
    description: str = ""
    # causal_lm: greedy generation on held-out rows at each validation, scored by the dataset
    # format (BLEU/chrF for translation, exact match/F1 for single-answer rows); 0 disables.
    generate_rows: int = 8
    max_new_tokens: int = 32
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)


@dataclass
class TrainerConfig:
    """Arguments passed by name to Lightning's Trainer."""

    max_steps: int = 30
    max_epochs: int | None = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    log_every_n_steps: int = 1
    # Validate every N optimizer steps (an int), or a fraction of an epoch (a float <= 1.0).
    # null: every max(10, max_steps // 5) steps for runs over 50 steps, else once per epoch.
    val_check_interval: float | None = None
    limit_val_batches: float | None = None
    enable_progress_bar: bool = True
    deterministic: bool = False
    # Recompute activations in backward (less memory, ~30% more compute); every method.
    gradient_checkpointing: bool = False
    # torch.compile each transformer block (docs/performance.md: measured, CUDA mainly).
    compile: bool = False


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    name: str = "adamw"  # adamw | sgd | adamw_8bit | paged_adamw_8bit (bitsandbytes)
    # A float, or "auto": Lightning's LR finder picks it before training (framework/config/
    # strict.py lr_problems types it; framework/training/lr_finder.py resolves it).
    lr: Any = 2e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.0
    scheduler: str = "cosine"  # constant | linear | cosine
    warmup_steps: int = 2
    # Head tasks (seq_cls, token_cls, qa): the fresh, randomly initialised head learns at
    # head_lr_ratio x lr (adapters and backbone at lr). 1.0: one LR for every parameter.
    head_lr_ratio: float = 10.0


@dataclass
class LoggerConfig:
    """Experiment tracker."""

    backend: str = "csv"  # csv | tensorboard | wandb
    project: str = "hydratune"
    wandb_mode: str = "offline"  # offline | online | disabled


@dataclass
class PathsConfig:
    """Where the cache and the runs live."""

    root_dir: str = MISSING
    cache_dir: str = MISSING
    output_dir: str = MISSING
    run_dir: str = MISSING


@dataclass
class RunConfig:
    """Run-level switches."""

    name: str = "default"
    seed: int = 42
    dry_run: bool = False
    merge: bool = False  # also save the adapter folded into the base (mergeable methods)
    resume: str = "auto"  # auto (newest readable checkpoint in the run dir) | never | <path>
    resume_changes: str = "refuse"  # allow: resume although hyperparameters changed (recorded)
    save_checkpoints: bool = True
    checkpoint_every_n_steps: int = 10
    sweep_trials: int = 4  # total trials of a search sweep (Optuna), counted across restarts
    step_times: bool = False  # write step_times.csv (a timestamp per optimizer step; bench/)
    # Keep the trainable weights of the best validation check, by this metric (val/loss,
    # val/entity_f1, val/bleu, ...: framework/tasks/monitor.py); null: the last weights.
    keep_best: str | None = None
    early_stopping_patience: int | None = None  # stop after N checks without a better keep_best
    find_lr: bool = False  # run Lightning's LR finder on the composed run, save the plot, exit
    preview: int = 0  # print this many training rows as trained (no weights load), exit; 0: off


@dataclass
class TrainConfig:
    """The whole composed run."""

    model: ModelConfig = MISSING
    method: Any = MISSING
    hardware: HardwareConfig = MISSING
    dataset: DatasetConfig = MISSING
    task: TaskConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    run: RunConfig = field(default_factory=RunConfig)


# Corpora read from installed packages (framework.data.sources.CORPORA; a test keeps them equal).
BUNDLED_CORPORA = (
    "chatterbot",
    "chatterbot_prefs",
    "wordnet_glosses",
    "wordnet_definitions",
    "fortunes",
    "debian_policy",
    "iso_country_names",
    "iso_country_codes",
    "iso_entities",
    "wordnet_supersenses",
    "policy_entities",
    "wordnet_gloss_qa",
)

OPTIMIZER_NAMES = ("adamw", "sgd", "adamw_8bit", "paged_adamw_8bit")

CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "hardware": HARDWARE_CHOICES,
    "dataset": {
        "source": ("file", "jsonl", "disk", "hub", *BUNDLED_CORPORA),
        "format": FORMAT_NAMES,
        "on_bad_row": ("error", "skip"),
        "train_on": ("all", "last_turn"),
    },
    "task": {"name": TASK_NAMES},
    "run": {"resume_changes": ("refuse", "allow")},
    "optim": {"name": OPTIMIZER_NAMES, "scheduler": ("constant", "linear", "cosine")},
    "logger": {
        "backend": ("csv", "tensorboard", "wandb"),
        "wandb_mode": ("offline", "online", "disabled"),
    },
    "model": {
        "architecture": ARCHITECTURES,
        "dtype": ("float32", "bfloat16", "float16"),
    },
}


def register_schemas() -> None:
    """Store the top-level schema and the per-group schemas in Hydra's ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
