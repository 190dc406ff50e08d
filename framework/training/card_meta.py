"""The model card's Hugging Face front matter (YAML header) and provenance section.

Flat values in, text out: framework.training.artifacts reads the config and fills CardMeta.
The header follows https://huggingface.co/docs/hub/model-cards (base_model, library_name,
license, datasets, tags, pipeline_tag); huggingface_hub's ModelCard parses it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

# The pipeline a task's model head serves (framework.tasks.registry TaskSpec.head).
PIPELINE_TAGS = {
    "AutoModelForCausalLM": "text-generation",
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering",
}
# Packages whose versions decide what a run computes (listed in the provenance section).
KEY_PACKAGES = ("torch", "transformers", "peft", "pytorch-lightning", "bitsandbytes", "datasets")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CardMeta:
    """What the card's header says about the run (flat values)."""

    base_model: str  # the preset's hub id, else its local source
    adapter: bool  # an adapter (library peft) or whole weights (library transformers)
    license: str  # the model preset's license ('' when it names none)
    datasets: tuple[str, ...]  # hub ids or names of the data trained on
    head: str  # the task's transformers Auto class
    tags: tuple[str, ...]  # method, task, architecture, ...


def base_model_of(
    hub_id: str | None,
    local_path: str | None,
    gguf_package: str | None,
    gguf_file: str | None,
    name: str,
    random_init: bool = False,
) -> str:
    """The preset name for random weights (model=tiny), else its hub id, else where its
    weights were read (a folder, a GGUF file)."""
    if random_init:
        return name
    if hub_id:
        return hub_id
    if local_path:
        return local_path
    if gguf_package:
        return f"{gguf_package}/{gguf_file}" if gguf_file else gguf_package
    return name  # resolve_source refuses a preset with no source before this runs


def front_matter(meta: CardMeta) -> str:
    """The `---`-delimited YAML header of README.md."""
    header: dict[str, object] = {
        "base_model": meta.base_model,
        "library_name": "peft" if meta.adapter else "transformers",
    }
    if meta.license:
        header["license"] = meta.license
    header["datasets"] = list(meta.datasets)
    tags = ["hydratune", *(["peft"] if meta.adapter else []), *meta.tags]
    header["tags"] = list(dict.fromkeys(t for t in tags if t))
    header["pipeline_tag"] = PIPELINE_TAGS.get(meta.head, "text-generation")
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n\n"


def preset_origins(choices: dict[str, str], sources: list[tuple[str, str]]) -> dict[str, str]:
    """Where each group's chosen preset was read: the first config source (provider, path)
    holding <group>/<choice>.yaml, as Hydra searches them (file:// and pkg:// sources)."""
    found = {}
    for group, choice in choices.items():
        if group == "hydra" or group.startswith("hydra/") or not choice:
            continue
        for provider, path in sources:
            if _holds(path, f"{group}/{choice}.yaml"):
                found[f"{group}={choice}"] = f"{provider} ({path})"
                break
        else:  # no file holds it: a config registered in code (a method's schema)
            if any(path.startswith("structured://") for _, path in sources):
                found[f"{group}={choice}"] = "registered in code (structured://)"
    return found


def _holds(source: str, relative: str) -> bool:
    if source.startswith("file://"):
        return (Path(source.removeprefix("file://")) / relative).is_file()
    if source.startswith("pkg://"):
        from importlib import resources

        package = source.removeprefix("pkg://").replace("/", ".")
        try:
            return resources.files(package).joinpath(relative).is_file()
        except ModuleNotFoundError:
            return False  # a search path naming a package that is not installed holds nothing
    return False


def provenance(origins: dict[str, str] | None = None) -> dict[str, str]:
    """hydratune's version, the git commit of this checkout (when in one), key packages, and
    where each preset came from (preset_origins)."""
    from framework import __version__

    found = {"hydratune": __version__}
    commit = git_commit(ROOT)
    if commit:
        found["git commit"] = commit
    for package in KEY_PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found | {f"preset {k}": v for k, v in (origins or {}).items()}


def git_commit(folder: Path) -> str:
    """HEAD of the git checkout at `folder` (with '+dirty' when files changed); '' outside one."""
    if not (folder / ".git").exists():
        return ""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""  # no git binary, or not a readable checkout: the card says nothing
    return head + ("+dirty" if dirty else "")


def provenance_section(found: dict[str, str]) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in found.items())
    return f"""
## Provenance

| | |
|---|---|
{rows}
"""


def project_link() -> str:
    """hydratune, linked to its home page when the installed metadata names one."""
    try:
        urls = metadata.metadata("hydratune").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    home = next((u.split(",", 1)[1].strip() for u in urls if "," in u), "")
    return f"[hydratune]({home})" if home else "hydratune"
