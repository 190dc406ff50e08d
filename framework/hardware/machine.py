"""The machine's facts a hardware plan depends on: visible GPUs, bf16 support, launcher env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# What a launcher (SLURM, torchrun) tells each process about the job's shape.
LAUNCHER_ENV = ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE", "SLURM_NNODES", "GROUP_WORLD_SIZE")


@dataclass(frozen=True)
class Machine:
    """Where a run executes, as far as "auto" hardware settings need to know.

    bf16 is what the GPUs support; without asking torch (config-only paths: dry runs, checks
    before launch) it is assumed true, as on every GPU since Ampere.
    """

    gpus: int = 0  # CUDA devices this process may use
    bf16: bool = True
    launcher: Mapping[str, str] = field(default_factory=dict)  # LAUNCHER_ENV values set here

    def launched(self, *names: str) -> int | None:
        """The first of these launcher variables holding a whole number >= 1."""
        for name in names:
            value = self.launcher.get(name, "")
            if value.isdigit() and int(value) > 0:
                return int(value)
        return None

    def describe(self) -> str:
        """One line for the dry run."""
        env = ", ".join(f"{k}={v}" for k, v in self.launcher.items()) or "none"
        return f"machine: {self.gpus} CUDA GPU(s) visible; launcher environment: {env}"

    @classmethod
    def detect(cls, probe_torch: bool = False) -> Machine:
        """This machine's facts. Without torch (the default) GPUs are counted from the NVIDIA
        driver and CUDA_VISIBLE_DEVICES; `probe_torch` asks torch instead (count and bf16), and
        only where the driver shows a GPU, so a CPU machine never pays torch's import here."""
        env = os.environ
        gpus = visible_gpus(env)
        bf16 = True
        if probe_torch and gpus:
            import torch

            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
            bf16 = bool(gpus) and torch.cuda.is_bf16_supported()
        launcher = {name: env[name] for name in LAUNCHER_ENV if name in env}
        return cls(gpus=gpus, bf16=bf16, launcher=launcher)


def visible_gpus(env: Mapping[str, str]) -> int:
    """CUDA devices this process may use, found without importing torch (dry runs stay fast)."""
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [d for d in listed.split(",") if d.strip() and d.strip() != "-1"]
        return len(ids) if _nvidia_driver_gpus() else 0
    return _nvidia_driver_gpus()


def _nvidia_driver_gpus() -> int:
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0
