"""Model checks before launch: architecture, target module names, chat template.

Config-only (`model_problems`, called from framework.config.validate.all_problems): no torch
or transformers import, so dry runs stay fast. The tokenizer-level checks
(`launch_problems`: a template exists for chat data, every row renders consistently) load the
tokenizer and run once before the job is built (framework.run.train), before any weight.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.data.chat_templates import template_problem
from framework.errors import UserError, allowed_list, did_you_mean
from framework.models.architectures import (
    GGUF_ARCHITECTURES,
    MODEL_TYPES,
    MODULE_NAMES,
    REFUSED_MODEL_TYPES,
)
from framework.tasks.registry import task_spec

RANDOM_INIT_ARCHITECTURES = ("llama", "phi3", "mistral", "qwen2", "gemma2", "bert")
CHAT_FIX = (
    "set model.chat_template=<name> (chatml, gemma, llama3, mistral, phi3, phi35, phi4, "
    "qwen25, ...) or model.chat_template=/path/to/template.jinja"
)


def model_problems(cfg: DictConfig) -> list[str]:
    """Every config-level model problem (architecture, targets, chat template name)."""
    model = cfg.model
    found = architecture_problems(model)
    found += target_module_problems(str(model.architecture), cfg.method, list(model.target_modules))
    value = model.get("chat_template")
    if value:
        problem = template_problem(str(value))
        found += [problem] if problem else []
    found += template_file_problems(cfg)
    return found


def _local_folder(model: DictConfig) -> Path | None:
    local = model.get("local_path")
    if not local:
        return None
    if str(local).startswith("pkg://"):
        from framework.models.source import package_path

        try:
            return package_path(str(local))
        except UserError:
            return None
    folder = Path(str(local)).expanduser()
    return folder if folder.is_dir() else None


def architecture_problems(model: DictConfig) -> list[str]:
    """model.architecture against the folder's config.json; random init builds a known one."""
    arch = str(model.architecture)
    found: list[str] = []
    if arch in REFUSED_MODEL_TYPES:
        found.append(f"model={model.name} is refused: {REFUSED_MODEL_TYPES[arch]}")
    folder = _local_folder(model)
    config = folder / "config.json" if folder else None
    if config is not None and config.is_file():
        try:
            model_type = str(json.loads(config.read_text()).get("model_type", ""))
        except (OSError, ValueError):
            model_type = ""
        if model_type in REFUSED_MODEL_TYPES:
            found.append(f"model={model.name}: {REFUSED_MODEL_TYPES[model_type]}")
        elif model_type and MODEL_TYPES.get(model_type, model_type) != arch:
            known = MODEL_TYPES.get(model_type)
            fix = f"set model.architecture={known}" if known else "this architecture is unsupported"
            found.append(
                f"model.architecture={arch} but {config} says model_type='{model_type}': {fix}"
            )
    found += gguf_architecture_problems(model)
    if model.get("random_init") is not None and arch not in RANDOM_INIT_ARCHITECTURES:
        found.append(
            f"model={model.name} builds a random model, but model.architecture={arch} has no "
            f"random config. Allowed: {allowed_list(RANDOM_INIT_ARCHITECTURES)}"
        )
    return found


def gguf_architecture_problems(model: DictConfig) -> list[str]:
    """model.architecture against the GGUF file's general.architecture. A random_init preset
    (model=tiny) is checked too: its tokenizer, vocabulary and special tokens are the file's."""
    from framework.models.gguf_header import GGUFError, gguf_architecture
    from framework.models.source import gguf_path

    local = model.local_path
    path = gguf_path(str(local) if local else None, model.gguf_package, model.gguf_file)
    if path is None:
        return []
    try:
        written = gguf_architecture(path)
    except (OSError, GGUFError) as error:
        return [f"model={model.name}: {path} cannot be read as GGUF: {error}"]
    arch = str(model.architecture)
    holds = GGUF_ARCHITECTURES.get(written)
    if holds is None:
        return [
            f"model={model.name}: {path} holds a '{written}' model (general.architecture), "
            f"which this framework does not load. Supported GGUF architectures: "
            f"{allowed_list(tuple(GGUF_ARCHITECTURES))}"
        ]
    if arch in holds:
        return []
    return [
        f"model.architecture={arch} but {path} holds a '{written}' model "
        f"(general.architecture): set model.architecture={holds[0]}, or use a {arch} model"
    ]


def target_module_problems(arch: str, method: DictConfig, preset: list[str]) -> list[str]:
    """Every target module name (method's and preset's) must be a module of the architecture."""
    allowed = MODULE_NAMES.get(arch)
    if allowed is None:
        return []
    found = []
    named = [("method.target_modules", list(method.get("target_modules") or []))]
    named.append(("model.target_modules", preset))
    for key, names in named:
        for name in names:
            if str(name) in ("all-linear",) or str(name) in allowed:
                continue
            found.append(
                f"{key}: '{name}' is not a module of architecture {arch}. Allowed: "
                f"{allowed_list(allowed)}." + did_you_mean(str(name), allowed)
            )
    return found


def _folder_has_template(folder: Path) -> bool | None:
    """Whether a tokenizer folder ships a chat template (None: cannot tell from files)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        return bool(json.loads(config.read_text()).get("chat_template"))
    except (OSError, ValueError):
        return None


def template_file_problems(cfg: DictConfig) -> list[str]:
    """A chat dataset on a local model whose tokenizer has no template (found from files)."""
    if str(cfg.task.name) != "causal_lm" or str(cfg.dataset.format) != "chat":
        return []
    if cfg.model.get("chat_template"):
        return []
    folder = _local_folder(cfg.model)
    if folder is None or _folder_has_template(folder) is not False:
        return []
    return [no_template_message(str(cfg.model.name), str(cfg.dataset.name))]


def no_template_message(model: str, dataset: str) -> str:
    return (
        f"model={model} has no chat template, and dataset={dataset} is chat data: a "
        f"conversation cannot be rendered the way inference will. Fix: {CHAT_FIX}"
    )


def launch_problems(cfg: DictConfig, tokenizer: Any, rows: list[Any]) -> list[str]:
    """Tokenizer-level checks on the rows the run will train on (before any weight loads)."""
    if not task_spec(str(cfg.task.name)).generative:  # causal_lm and preference tasks
        return []
    from framework.data.encoders import as_chat
    from framework.data.render import RenderError, chat_examples
    from framework.data.rows import ChatRow, TextRow

    chats = [r for r in rows if isinstance(r, ChatRow)]
    if tokenizer.chat_template is None:
        if chats and str(cfg.dataset.format) in ("chat", "auto"):
            return [no_template_message(str(cfg.model.name), str(cfg.dataset.name))]
        return []
    for row in rows:
        if isinstance(row, TextRow):
            continue
        try:
            chat_examples(
                as_chat(row), tokenizer, cfg.dataset.system_prompt, str(cfg.dataset.train_on)
            )
        except RenderError as error:
            return [f"model={cfg.model.name}: {error}"]
        except UserError:
            continue
    return []


def check_before_launch(cfg: DictConfig) -> None:
    """Load the tokenizer and rows (no weights) and stop with exit 2 on a template problem."""
    if not task_spec(str(cfg.task.name)).generative:  # causal_lm and preference tasks
        return
    from framework.builders.data import row_spec, source_spec
    from framework.builders.model import build_source, build_tokenizer
    from framework.data.load import load_rows

    tokenizer = build_tokenizer(cfg.model, build_source(cfg.model), Path(str(cfg.paths.cache_dir)))
    loaded = load_rows(source_spec(cfg.dataset), row_spec(cfg.dataset), str(cfg.dataset.on_bad_row))
    problems = launch_problems(cfg, tokenizer, list(loaded.rows))
    if problems:
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
