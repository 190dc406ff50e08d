"""Named chat templates (the families' published templates, as data) and how a run picks one.

`model.chat_template=<name>` or `=<path to a .jinja file>` sets the tokenizer's template
(saved with the tokenizer into the run dir, so inference renders the same way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework.errors import UserError, allowed_list, did_you_mean

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# name -> (file, the end-of-turn marker an assistant turn is trained to end with)
TEMPLATES: dict[str, tuple[str, str]] = {
    "chatml": ("chatml.jinja", "<|im_end|>"),
    "phi3": ("phi3.jinja", "<|end|>"),  # Phi-3-mini (4k/128k); appends EOS when not generating
    "phi3_medium": ("phi3_medium.jinja", "<|end|>"),  # no system role, no generation prompt
    "phi35": ("phi35.jinja", "<|end|>"),
    "phi4": ("phi4.jinja", "<|end|>"),  # Phi-4-mini: no newlines between turns
    "llama3": ("llama3.jinja", "<|eot_id|>"),  # Llama 3.1/3.2 (system header with dates)
    "llama3_0": ("llama3_0.jinja", "<|eot_id|>"),  # Llama 3 (8B-Instruct, 2024-04)
    "mistral": ("mistral.jinja", "</s>"),  # [INST] ... [/INST]; no system role
    "qwen25": ("qwen25.jinja", "<|im_end|>"),  # ChatML with Qwen's default system prompt
    "gemma": ("gemma.jinja", "<end_of_turn>"),  # Gemma / Gemma 2: no system role, trims
}
ALIASES = {"qwen2": "qwen25", "phi35_mini": "phi35", "phi4_mini": "phi4", "gemma2": "gemma"}


def template_names() -> tuple[str, ...]:
    """Every accepted name (aliases included)."""
    return tuple(sorted({*TEMPLATES, *ALIASES}))


def is_template_path(value: str) -> bool:
    """A value that names a file rather than a bundled template."""
    return value.endswith((".jinja", ".j2", ".jinja2")) or "/" in value


def template_problem(value: str) -> str | None:
    """Why `model.chat_template=value` cannot be used, or None (config-only, no imports)."""
    if is_template_path(value):
        path = Path(value).expanduser()
        if not path.is_file():
            return f"model.chat_template='{value}': no such file (a Jinja chat template)"
        return None
    if value in TEMPLATES or value in ALIASES:
        return None
    return (
        f"model.chat_template='{value}' is not a known chat template. Allowed: "
        f"{allowed_list(template_names())}, or a path to a .jinja file."
        + did_you_mean(value, template_names())
    )


def load_template(value: str) -> str:
    """The Jinja text of a named template or a template file."""
    problem = template_problem(value)
    if problem:
        raise UserError(problem)
    if is_template_path(value):
        return Path(value).expanduser().read_text()
    return (TEMPLATE_DIR / TEMPLATES[ALIASES.get(value, value)][0]).read_text()


def apply_chat_template_setting(tokenizer: Any, value: str | None) -> Any:
    """Set the tokenizer's chat template from `model.chat_template` (None: keep its own)."""
    if value:
        tokenizer.chat_template = load_template(str(value))
    return tokenizer
