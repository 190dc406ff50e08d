"""Hydra callback: when a multirun ends, write sweep_summary.csv/.md and a metric plot."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

METRIC = "val_loss_after"
COLUMNS = [
    "trial",
    "overrides",
    METRIC,
    "trainable_parameters",
    "peak_memory_mib",
    "wall_time_s",
    "status",
    "reason",
]


# A trial without metrics: the file in its run dir that says why, and the status it gives.
# FAILED: train() refused the run (bad input, the machine) or its SLURM job ended without a
# result; CANCELLED: its SLURM job was cancelled (framework/launchers/slurm_outcome.py).
UNFINISHED = {"CANCELLED": "cancelled", "FAILED": "failed"}


def trial_status(trial: Path, metrics: dict[str, Any]) -> str:
    """ok (metrics written), cancelled, failed, or incomplete (still running, or killed)."""
    if metrics:
        return "ok"
    found = [status for name, status in UNFINISHED.items() if (trial / name).is_file()]
    return found[0] if found else "incomplete"


def failure_reason(trial: Path) -> str:
    """A cancelled or failed trial's reason in one line (its CANCELLED or FAILED file holds
    the whole message)."""
    found = [trial / name for name in UNFINISHED if (trial / name).is_file()]
    if not found:
        return ""
    lines = [line.strip() for line in found[0].read_text().splitlines() if line.strip()]
    # "the run cannot start:" then one problem per line: the problems are the reason.
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return "; ".join(lines).replace("|", "/")


def trial_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per trial dir under the sweep dir (finished or not)."""
    rows = []
    for overrides_file in sorted(sweep_dir.rglob(".hydra/overrides.yaml")):
        trial = overrides_file.parent.parent
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        metrics_file = trial / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        status = trial_status(trial, metrics)
        rows.append(
            {
                "trial": str(trial.relative_to(sweep_dir)),
                "overrides": " ".join(overrides),
                METRIC: metrics.get(METRIC, ""),
                "trainable_parameters": metrics.get("trainable_parameters", ""),
                "peak_memory_mib": metrics.get("peak_memory_mib", ""),
                "wall_time_s": metrics.get("wall_time_s", ""),
                "status": status,
                "reason": failure_reason(trial) if status in UNFINISHED.values() else "",
            }
        )
    return rows


def write_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write sweep_summary.csv, sweep_summary.md and sweep_summary.png; return the rows."""
    rows = trial_rows(sweep_dir)
    with (sweep_dir / "sweep_summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    ok = [r for r in rows if r["status"] == "ok"]
    best = min(ok, key=lambda r: float(r[METRIC])) if ok else None
    header = f"# Sweep summary: {len(ok)} of {len(rows)} trials finished\n\n"
    if best:
        header += f"Best {METRIC}: {float(best[METRIC]):.4f} with `{best['overrides']}`\n\n"
    (sweep_dir / "sweep_summary.md").write_text(header + "\n".join(lines) + "\n")
    plot_metric(ok, sweep_dir / "sweep_summary.png")
    return rows


def swept_values(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each override key whose value differs between trials: the value per row."""
    parsed = [dict(o.split("=", 1) for o in r["overrides"].split() if "=" in o) for r in rows]
    keys = sorted({k for p in parsed for k in p})
    return {
        k: [p.get(k, "") for p in parsed] for k in keys if len({p.get(k, "") for p in parsed}) > 1
    }


def plot_metric(rows: list[dict[str, Any]], target: Path) -> None:
    """One panel per swept parameter: the metric of each finished trial against its value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    swept = swept_values(rows) or {"trial": [r["trial"] for r in rows]}
    metric = [float(r[METRIC]) for r in rows]
    fig, axes = plt.subplots(1, len(swept), figsize=(4.0 * len(swept), 3.5), squeeze=False)
    for ax, (key, values) in zip(axes[0], swept.items(), strict=True):
        try:
            xs: list[Any] = [float(v) for v in values]
            if max(xs) / max(min(xs), 1e-30) > 50:
                ax.set_xscale("log")
        except ValueError:
            xs = values
        ax.scatter(xs, metric, color="#4c72b0")
        ax.set_xlabel(key)
        ax.set_ylabel(METRIC)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{METRIC} per trial against each swept parameter")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


class SweepSummary(Callback):
    """Writes the sweep summary into the sweep dir when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from framework.launchers.remote import remote_launcher

        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir() or remote_launcher(config):  # jobs written, none run here
            return
        rows = write_summary(sweep_dir)
        log.info("sweep summary: %d trials -> %s", len(rows), sweep_dir / "sweep_summary.md")
