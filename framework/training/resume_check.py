"""Resume only from a compatible checkpoint: each run's checkpoints folder records the
fingerprint of what shaped its trained state; a resume compares it before anything is written.

- keys that shape the trained state or the data position (model, method, task, optimizer
  type, the data and how it is read, the DeepSpeed/FSDP layout): a difference is refused;
- the number of ranks (processes) that wrote the checkpoint: another count is refused with
  its own message (sharded optimizer states and each rank's data position are per rank);
- every other hyperparameter (learning rate, max_steps, ...): a difference is refused unless
  run.resume_changes=allow, and then recorded in the run dir's resume_history.jsonl;
- where the run writes and how it reports (paths, logger, progress bar, run.resume itself)
  may change freely.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from framework.config.strict import leaves
from framework.errors import UserError

FINGERPRINT_FILE = "fingerprint.json"
HISTORY_FILE = "resume_history.jsonl"
SHAPING = (
    "model.",
    "method.",
    "task.name",
    "optim.name",
    "hardware.strategy",
    "hardware.deepspeed.stage",
    "data.sha256",
    *(
        f"dataset.{key}"
        for key in (
            "source",
            "path",
            "split",
            "format",
            "columns",
            "labels",
            "categories",
            "encoding",
            "limit",
            "val_fraction",
            "val_max_rows",
            "shuffle_seed",
            "max_length",
            "packing",
            "train_on_prompt",
            "train_on",
            "system_prompt",
            "source_lang",
            "target_lang",
        )
    ),
)
FREE = (
    "paths.",
    "logger.",
    "run.resume",
    "run.dry_run",
    "run.name",
    "run.step_times",
    "trainer.enable_progress_bar",
    "model.description",
    "method.description",
    "dataset.description",
    "dataset.name",
    "dataset.cache",
    "dataset.num_workers",
    "dataset.eval_batch_size",
    "hardware.name",
    "hardware.description",
    "hardware.devices",  # these two as the resolved number of ranks: WORLD_SIZE
    "hardware.num_nodes",
)
WORLD_SIZE = "hardware.world_size"


def _matches(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(
        key == p or (p.endswith(".") and key.startswith(p)) or key.startswith(p + ".")
        for p in prefixes
    )


def data_digest(cfg: DictConfig) -> str:
    """sha256 of a local data file (a folder or corpus: its path and source only)."""
    path = cfg.dataset.path
    file = Path(str(path)).expanduser() if path else None
    digest = hashlib.sha256(f"{cfg.dataset.source}:{path}".encode())
    if file is not None and file.is_file():
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(cfg: DictConfig, world_size: int) -> dict[str, str]:
    """Every config key that a resume may not change freely, as JSON text, plus the data's hash
    and the number of ranks (`world_size`, from the run's resolved hardware plan)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    found = {
        key: json.dumps(value, sort_keys=True)
        for key, value in leaves(resolved, into_lists=False)
        if not _matches(key, FREE) and not key.startswith("hydra.")
    }
    found["data.sha256"] = json.dumps(data_digest(cfg))
    found[WORLD_SIZE] = json.dumps(world_size)
    return found


def write_fingerprint(folder: Path, now: dict[str, str]) -> None:
    """Record the run's fingerprint beside its checkpoints (once per attempt, rank 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (FINGERPRINT_FILE + ".tmp")
    tmp.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    tmp.replace(folder / FINGERPRINT_FILE)


def resume_checkpoint(resume: str, run_dir: Path) -> Path | None:
    """never: start fresh; auto: newest readable checkpoint in the run dir; else a path."""
    from framework.training.checkpointing import newest_readable, readable

    if resume == "never":
        return None
    if resume == "auto":
        return newest_readable(run_dir / "checkpoints")
    path = Path(resume).expanduser()
    if not path.exists():  # a file, or a DeepSpeed checkpoint folder
        raise UserError(f"run.resume='{resume}': no such checkpoint file (or use auto / never)")
    if not (path.parent / FINGERPRINT_FILE).is_file():
        raise UserError(
            f"run.resume='{resume}': not a hydratune checkpoint (no {FINGERPRINT_FILE} beside "
            "it, so what it was trained with is unknown); use run.resume=never to start over"
        )
    if not readable(path):
        raise UserError(f"run.resume='{resume}': the checkpoint is truncated or corrupt")
    return path


SHAPE_REFUSAL = (
    "cannot resume from {checkpoint}: it was trained with a different model, method, task, "
    "optimizer, data or sharding. Use the same values, or start a new run (another "
    "run.name, or run.resume=never):"
)
CHANGE_REFUSAL = (
    "resuming from {checkpoint} with changed settings; pass run.resume_changes=allow to "
    "continue with them (recorded in resume_history.jsonl), or use the old values:"
)


def check_resume(
    cfg: DictConfig, checkpoint: Path | None, run_dir: Path, now: dict[str, str]
) -> None:
    """Refuse a checkpoint trained with another shape or data (`now`: this run's fingerprint);
    other changes need run.resume_changes=allow and are recorded in resume_history.jsonl."""
    if checkpoint is None:
        return
    recorded_file = checkpoint.parent / FINGERPRINT_FILE
    if not recorded_file.is_file():
        raise UserError(
            f"cannot resume from {checkpoint}: no {FINGERPRINT_FILE} beside it (written by an "
            "older hydratune?). Start over with run.resume=never, or use another run dir"
        )
    recorded = json.loads(recorded_file.read_text())
    check_world_size(checkpoint, recorded.pop(WORLD_SIZE, None), now)
    now = {k: v for k, v in now.items() if k != WORLD_SIZE}
    changed = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    shaping = [k for k in changed if _matches(k, SHAPING)]
    shown = [
        f"{k}: checkpoint {recorded.get(k, '(absent)')}, now {now.get(k, '(absent)')}"
        for k in (shaping or changed)
    ]
    if shaping or (changed and str(cfg.run.resume_changes) != "allow"):
        refusal = SHAPE_REFUSAL if shaping else CHANGE_REFUSAL
        raise UserError("\n  ".join([refusal.format(checkpoint=checkpoint), *shown]))
    if changed:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "checkpoint": str(checkpoint),
            "changes": {k: [recorded.get(k), now.get(k)] for k in changed},
        }
        with (run_dir / HISTORY_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def check_world_size(checkpoint: Path, recorded: str | None, now: dict[str, str]) -> None:
    """Refuse a checkpoint written by another number of ranks (`recorded`: its fingerprint's
    JSON value; None for a fingerprint from before it was recorded, which is not compared)."""
    if recorded is None or recorded == now[WORLD_SIZE]:
        return
    old, new = json.loads(recorded), json.loads(now[WORLD_SIZE])
    raise UserError(
        f"cannot resume from {checkpoint}: it was written by {old} rank(s) (processes) and this "
        f"run has {new}. Each rank's data position (and, under DeepSpeed ZeRO or FSDP, its "
        "shard of the optimizer states) belongs to that count, so the run would not continue "
        f"where it stopped. Resume with {old} rank(s) (hardware.devices x hardware.num_nodes = "
        f"{old}), or start this run over with run.resume=never (or use another run.name)"
    )
