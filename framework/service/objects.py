"""OpenAI object shapes of jobs, events and checkpoints, built from database rows."""

from __future__ import annotations

from typing import Any

from framework.service.db import Checkpoint, Event, Job

TERMINAL = ("succeeded", "failed", "cancelled")
ACTIVE = ("validating_files", "queued", "running", "paused")


def job_object(row: Job) -> dict[str, Any]:
    """OpenAI's `fine_tuning.job` (plus hydratune's choices under `hydratune`; a job on a
    dataset preset has `training_file: null` and the preset in `hydratune.dataset`)."""
    return {
        "id": row.id,
        "object": "fine_tuning.job",
        "created_at": row.created_at,
        "error": row.error,
        "fine_tuned_model": row.fine_tuned_model,
        "finished_at": row.finished_at,
        "hyperparameters": row.hyperparameters,
        "method": row.method,
        "model": row.model,
        "organization_id": row.project,
        "result_files": [],
        "seed": row.seed,
        "status": row.status,
        "trained_tokens": row.trained_tokens,
        "training_file": row.training_file,
        "validation_file": row.validation_file,
        "suffix": row.suffix,
        "estimated_finish": None,
        "integrations": [],
        "metadata": None,
        "hydratune": {
            **row.hydratune,
            "dataset": row.dataset_preset,  # a dataset preset, or null for a training_file job
            "run_dir": f"{row.job_dir}/run",
        },
    }


def event_object(row: Event) -> dict[str, Any]:
    """OpenAI's `fine_tuning.job.event`."""
    return {
        "id": f"ftevent-{row.seq}",
        "object": "fine_tuning.job.event",
        "created_at": row.created_at,
        "level": row.level,
        "message": row.message,
        "type": row.type,
        "data": row.data or {},
    }


def checkpoint_object(row: Checkpoint, fine_tuned_model: str) -> dict[str, Any]:
    """OpenAI's `fine_tuning.job.checkpoint`."""
    return {
        "id": row.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": row.created_at,
        "fine_tuned_model_checkpoint": f"{fine_tuned_model}:ckpt-step-{row.step}",
        "fine_tuning_job_id": row.job_id,
        "metrics": {"step": row.step, **row.metrics},
        "step_number": row.step,
    }
