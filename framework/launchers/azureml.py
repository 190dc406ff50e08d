"""An Azure ML command job per run: written, checked offline with load_job, submitted on request."""

from __future__ import annotations

import re
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from framework.errors import UserError
from framework.launchers.environment import conda_spec
from framework.launchers.remote import task_overrides

SCHEMA = "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
JOB_FILE = "azureml-job.yaml"
CONDA_FILE = "conda.yaml"
RUN_DIR_OUTPUT = "run_dir"
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL")
WORKSPACE_KEYS = ("subscription_id", "resource_group", "workspace_name")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and str(value).isdigit() and int(value) >= 1


def workspace_configured(launcher: DictConfig) -> bool:
    """All three of subscription, resource group and workspace are set."""
    return all(launcher.get(key) for key in WORKSPACE_KEYS)


def submits(launcher: DictConfig) -> bool:
    """hydra.launcher.submit, defaulting to true exactly when a workspace is configured."""
    submit = launcher.get("submit")
    return workspace_configured(launcher) if submit is None else bool(submit)


def job_problems(cfg: DictConfig) -> list[str]:
    """hydra.launcher fields a job file cannot be written from; each names its field."""
    launcher, found = cfg.hydra.launcher, []
    for key, source in (
        ("process_count_per_instance", "hardware.devices"),
        ("instance_count", "hardware.num_nodes"),
    ):
        value = launcher.get(key)
        if not _whole(value):
            found.append(
                f"hydra.launcher.{key}={value} must be a whole number >= 1 (it follows {source}; "
                f"Azure ML needs a count: set {source}=N, the GPUs per node / nodes of the compute)"
            )
    if not str(launcher.get("compute") or "").strip():
        found.append("hydra.launcher.compute is empty: name an Azure ML compute cluster")
    for key in ("experiment_name",):
        if not NAME_PATTERN.match(str(launcher.get(key) or "")):
            found.append(
                f"hydra.launcher.{key}='{launcher.get(key)}' is not a valid Azure ML name "
                "(letters, digits, '_', '.', '-'; starting with a letter or digit)"
            )
    for name in launcher.get("environment_variables") or {}:
        if any(marker in str(name).upper() for marker in SECRET_MARKERS):
            found.append(
                f"hydra.launcher.environment_variables.{name} looks like a secret, and secrets "
                "are never written into a job file: keep it in a workspace connection or Key Vault"
            )
    if launcher.get("submit") and not workspace_configured(launcher):
        missing = [f"hydra.launcher.{k}" for k in WORKSPACE_KEYS if not launcher.get(k)]
        found.append(f"hydra.launcher.submit=true needs a workspace: set {', '.join(missing)}")
    return found


def command(overrides: Sequence[str]) -> str:
    """`python train.py <overrides>`: the run's own overrides, the run dir on the job output."""
    args = [shlex.quote(o) for o in task_overrides(overrides)]
    args.append(f"hydra.run.dir=${{{{outputs.{RUN_DIR_OUTPUT}}}}}")
    return " ".join(["python", "train.py", *args])


def job_spec(cfg: DictConfig, overrides: Sequence[str], project_root: Path) -> dict[str, Any]:
    """The command job as a plain dict (what is written to the YAML file)."""
    launcher = cfg.hydra.launcher
    env_vars = {str(k): str(v) for k, v in (launcher.get("environment_variables") or {}).items()}
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "command",
        "display_name": str(cfg.run.name),
        "experiment_name": str(launcher.experiment_name),
        "description": f"hydratune: python train.py {' '.join(task_overrides(overrides))}".strip(),
        "code": str(project_root),
        "command": command(overrides),
        "environment": {"image": str(launcher.image), "conda_file": CONDA_FILE},
        "compute": _compute(str(launcher.compute)),
        "distribution": {
            "type": "pytorch",
            "process_count_per_instance": int(launcher.process_count_per_instance),
        },
        "resources": {"instance_count": int(launcher.instance_count)},
        "outputs": {RUN_DIR_OUTPUT: {"type": "uri_folder", "mode": "rw_mount"}},
        "tags": {str(k): str(v) for k, v in (launcher.get("tags") or {}).items()},
    }
    if env_vars:
        spec["environment_variables"] = env_vars
    return spec


def _compute(name: str) -> str:
    return name if name.startswith("azureml:") else f"azureml:{name}"


def not_carried_over(cfg: DictConfig, project_root: Path | None = None) -> list[str]:
    """What the job file does not take with it, said once per run."""
    notes = []
    for entry in cfg.hydra.get("searchpath") or []:
        where = str(entry)
        if where.startswith("pkg://"):
            notes.append(f"search path {where}: install its package in the environment")
        elif where.startswith("file://") and project_root is not None:
            folder = Path(where[len("file://") :]).expanduser().resolve()
            if not folder.is_relative_to(project_root.resolve()):
                notes.append(
                    f"search path {where} is outside the project folder (the job's code): "
                    "copy it into the project or pass it as a job input"
                )
    if str(cfg.hardware.accelerator) == "cpu":
        notes.append(
            f"the compute's GPUs: hardware={cfg.hardware.name} trains on its CPU; pick "
            "hardware=single_gpu or multi_gpu (hardware.devices=N) to use them"
        )
    if str(cfg.logger.backend) == "wandb" and str(cfg.logger.wandb_mode) == "online":
        notes.append("WANDB_API_KEY: add it to the job from a workspace connection or Key Vault")
    if cfg.model.get("local_path"):
        notes.append(
            f"model.local_path={cfg.model.local_path} is a path on this machine: "
            "the job loads it on the compute, so mount or register the model there"
        )
    if str(cfg.dataset.source) in ("file", "jsonl", "disk"):
        notes.append(
            f"dataset.path={cfg.dataset.path}: only files inside the project folder travel "
            "with the code"
        )
    return notes


def load_problems(path: Path) -> list[str]:
    """Validate a written job file with azure-ai-ml's load_job (offline); name the field."""
    try:
        from azure.ai.ml import load_job
    except ImportError:  # pragma: no cover - installed with the project
        return ["azure-ai-ml is not installed (pip install azure-ai-ml): job files are unchecked"]
    try:
        with warnings.catch_warnings():  # azure-ai-ml's marshmallow schemas warn on every load
            warnings.simplefilter("ignore")
            load_job(source=str(path))
    except Exception as error:  # ValidationError and friends: their message names the field
        return [f"{path}: Azure ML refuses the job: {_first_lines(error)}"]
    return []


def _first_lines(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:800]


def write_job(cfg: DictConfig, overrides: Sequence[str], job_dir: Path, project_root: Path) -> Path:
    """Write <job_dir>/azureml-job.yaml and its conda.yaml; validate; raise UserError if refused."""
    found = job_problems(cfg)
    if found:
        raise UserError("\n  ".join(["the Azure ML job cannot be written:", *found]))
    job_dir.mkdir(parents=True, exist_ok=True)
    conda = conda_spec(project_root / "pyproject.toml")
    (job_dir / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=False))
    path = job_dir / JOB_FILE
    path.write_text(yaml.safe_dump(job_spec(cfg, overrides, project_root), sort_keys=False))
    found = load_problems(path)
    if found:
        raise UserError("\n  ".join(found))
    return path


def submit(cfg: DictConfig, path: Path) -> tuple[str, str]:  # pragma: no cover - needs Azure
    """Submit a validated job with MLClient (DefaultAzureCredential); its name and studio URL."""
    from azure.ai.ml import MLClient, load_job
    from azure.identity import DefaultAzureCredential

    launcher = cfg.hydra.launcher
    client = MLClient(
        DefaultAzureCredential(),
        subscription_id=str(launcher.subscription_id),
        resource_group_name=str(launcher.resource_group),
        workspace_name=str(launcher.workspace_name),
    )
    job = client.jobs.create_or_update(load_job(source=str(path)))
    return str(job.name), str(job.studio_url)
