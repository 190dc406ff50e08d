"""A SLURM trial whose job ended without a result: its record in the trial's run dir.

A job cancelled with scancel (before or while it ran), killed, or out of requeues leaves no
metrics. The launcher (hydra_plugins/hydratune_launchers/slurm.py) writes `CANCELLED` (state
CANCELLED in SLURM's accounting) or `FAILED` (any other state) with the job id, its state and
where its log is, plus `.hydra/overrides.yaml` when the job never started, so that the sweep
summary (framework/sweeps/summary.py) lists the trial with status `cancelled` or `failed`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

CANCELLED, FAILED = "CANCELLED", "FAILED"


def unfinished_status(state: str) -> str:
    """'cancelled' for SLURM's CANCELLED states ("CANCELLED by 0"), 'failed' for the rest."""
    return "cancelled" if state.upper().startswith("CANCELLED") else "failed"


def record_unfinished(
    trial: Path, overrides: list[str], job_id: str, state: str, log_file: str
) -> str:
    """Write the trial's CANCELLED or FAILED file (and its overrides when it never started);
    returns the status, 'cancelled' or 'failed'. `state`: SLURM's, as sacct reports it."""
    status = unfinished_status(state)
    trial.mkdir(parents=True, exist_ok=True)
    record = trial / ".hydra" / "overrides.yaml"
    if not record.exists():  # never started: the summary lists it with its overrides
        record.parent.mkdir(exist_ok=True)
        record.write_text(yaml.safe_dump(overrides))
    name = CANCELLED if status == "cancelled" else FAILED
    (trial / name).write_text(
        f"SLURM job {job_id} ended {state} without a result; its log: {log_file}\n"
    )
    return status
