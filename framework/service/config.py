"""serve.py's typed config (conf/serve.yaml): where state lives, slots, limits, admin commands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from framework.errors import UserError, allowed_list, did_you_mean

ADMIN_ACTIONS = ("create_key", "revoke_key", "list_keys")
EXECUTORS = ("local",)


@dataclass
class ServeConfig:
    """python serve.py [port=8000 data_dir=... database_url=... slots=1]."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = "service_data"  # uploaded files, one folder per job (its run dir inside)
    database_url: str | None = None  # null: sqlite:///<data_dir>/hydratune.db; or postgresql://
    executor: str = "local"  # local: train.py subprocesses on this machine
    slots: int = 1  # jobs training at once (e.g. one per GPU)
    max_running_per_project: int = 1  # a project's jobs training at once (the rest wait queued)
    max_upload_mb: float = 100.0  # one uploaded file
    max_request_mb: float = 1.0  # any other request body
    poll_seconds: float = 0.5  # how often the executor looks at its jobs
    log_level: str = "info"
    preload_inference: bool = True  # import the inference stack at start (first chat is fast)
    # Admin commands instead of serving: python serve.py +admin=create_key project=teamA
    admin: str | None = None  # create_key | revoke_key | list_keys
    project: str | None = None  # create_key: the key's project
    key_id: str | None = None  # revoke_key: the key's id (printed by create_key / list_keys)


def register_serve_schema() -> None:
    """Store serve_schema in Hydra's ConfigStore."""
    ConfigStore.instance().store(name="serve_schema", node=ServeConfig)


def serve_problems(cfg: DictConfig) -> list[str]:
    """Every problem of a composed serve config."""
    found = []
    if cfg.executor not in EXECUTORS:
        found.append(
            f"executor='{cfg.executor}' is not allowed. Allowed: {allowed_list(EXECUTORS)}."
            + did_you_mean(str(cfg.executor), EXECUTORS)
        )
    if cfg.admin is not None and cfg.admin not in ADMIN_ACTIONS:
        found.append(
            f"admin='{cfg.admin}' is not allowed. Allowed: {allowed_list(ADMIN_ACTIONS)}."
            + did_you_mean(str(cfg.admin), ADMIN_ACTIONS)
        )
    for key, low in (("slots", 1), ("max_running_per_project", 1), ("port", 0)):
        if int(cfg[key]) < low:
            found.append(f"{key}={cfg[key]} is out of range (at least {low})")
    for key in ("max_upload_mb", "max_request_mb", "poll_seconds"):
        if float(cfg[key]) <= 0:
            found.append(f"{key}={cfg[key]} must be positive")
    if cfg.admin == "create_key" and not cfg.project:
        found.append("+admin=create_key needs project=<name>")
    if cfg.admin == "revoke_key" and not cfg.key_id:
        found.append("+admin=revoke_key needs key_id=<id> (see +admin=list_keys)")
    return found


def database_url(cfg: DictConfig) -> str:
    """The configured database URL, or the SQLite file in the data dir."""
    if cfg.database_url:
        return str(cfg.database_url)
    return f"sqlite:///{Path(str(cfg.data_dir)).expanduser().resolve() / 'hydratune.db'}"


def compose_serve_config(config_dir: Path, argv: list[str]) -> DictConfig:
    """Compose conf/serve.yaml with key=value args; a mistake is a UserError."""
    from hydra import compose, initialize_config_dir

    from framework.cli.compose_errors import describe

    register_serve_schema()
    # `+admin=create_key` reads like adding a key; admin is a schema field, so it is set.
    argv = [a[1:] if a.startswith("+admin=") else a for a in argv]

    def base() -> DictConfig | None:
        try:
            with initialize_config_dir(str(config_dir), version_base="1.3"):
                return compose("serve")
        except Exception:
            return None

    try:
        with initialize_config_dir(str(config_dir), version_base="1.3"):
            cfg = compose("serve", overrides=argv)
    except Exception as error:
        raise UserError(describe(error, base)) from None
    problems = serve_problems(cfg)
    if problems:
        raise UserError("\n  ".join(["serve.py cannot start:", *problems]))
    return cfg
