"""The train.py entry point: discover methods, preflight the config, hand over to Hydra."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from framework.errors import UserError, exit_with

CONFIG_NAME = "train"


def _hydra_args(argv: list[str]) -> Any:
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


def run(project_root: Path, task: Any) -> None:
    """Run `task(cfg)` under hydra.main with the project's conf/ and plugins/."""
    import hydra

    from framework.cli.help import register_help_resolver
    from framework.config.schema import register_schemas
    from framework.launchers.slurm import register_resolvers as register_slurm_resolvers
    from framework.methods.discovery import discover_methods
    from framework.sweeps.optuna_resume import register_resolver

    os.environ.setdefault("HYDRATUNE_ROOT", str(project_root))
    # DeepSpeed JIT-compiles C++ ops (cpu_adam takes minutes): build them once, in the project.
    cache = Path(os.environ.get("HYDRATUNE_CACHE", project_root / ".cache"))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(cache / "torch_extensions"))
    config_dir = project_root / "conf"
    argv = sys.argv[1:]
    try:
        register_schemas()
        register_resolver()
        register_slurm_resolvers()
        register_help_resolver()
        discover_methods(project_root / "plugins")
        args = _hydra_args(argv)
        informational = args.help or args.hydra_help or args.info or args.shell_completion
        if not informational:  # every run is checked, whatever config dir or name it uses
            from framework.cli.preflight import preflight
            from framework.launchers.remote import remote_launcher

            cfg = preflight(
                _primary_dir(project_root, config_dir, args),
                args.config_name or CONFIG_NAME,
                list(args.overrides),
                bool(args.multirun),
            )
            if remote_launcher(cfg) and not (args.multirun or args.cfg or args.run):
                # Launchers act in multirun only: a single run prepared for azureml/kaito is
                # a one-job multirun (written under hydra.sweep.dir), never trained here.
                sys.argv.insert(1, "--multirun")
    except UserError as error:
        exit_with(error)

    def guarded(cfg: Any) -> Any:
        try:
            return task(cfg)
        except UserError as error:
            if not _in_multirun():
                exit_with(error)
            return _fail_trial(error, cfg)

    hydra.main(config_path=str(config_dir), config_name=CONFIG_NAME, version_base="1.3")(guarded)()


def _primary_dir(project_root: Path, config_dir: Path, args: Any) -> Path:
    """The folder Hydra will read the primary config from (-cd, then -cp, then conf/)."""
    if args.config_dir:
        return Path(args.config_dir).expanduser().resolve()
    if args.config_path:
        return (project_root / args.config_path).resolve()
    return config_dir


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _fail_trial(error: UserError, cfg: Any) -> float:
    """In a sweep, one bad trial is recorded (FAILED file, NaN metric) and the sweep goes on."""
    import logging

    logging.getLogger(__name__).error("trial failed: %s", error)
    run_dir = Path(str(cfg.paths.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "FAILED").write_text(f"{error}\n")
    from framework.training.run_record import write_hydra_record

    write_hydra_record(cfg, run_dir)  # the sweep summary lists the failed trial's overrides
    return float("nan")
