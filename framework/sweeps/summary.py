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
]


def trial_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per trial dir under the sweep dir (finished or not)."""
    rows = []
    for overrides_file in sorted(sweep_dir.rglob(".hydra/overrides.yaml")):
        trial = overrides_file.parent.parent
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        metrics_file = trial / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        status = "ok" if metrics else ("failed" if (trial / "FAILED").is_file() else "incomplete")
        rows.append(
            {
                "trial": str(trial.relative_to(sweep_dir)),
                "overrides": " ".join(overrides),
                METRIC: metrics.get(METRIC, ""),
                "trainable_parameters": metrics.get("trainable_parameters", ""),
                "peak_memory_mib": metrics.get("peak_memory_mib", ""),
                "wall_time_s": metrics.get("wall_time_s", ""),
                "status": status,
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


def plot_metric(rows: list[dict[str, Any]], target: Path) -> None:
    """A bar per finished trial: the metric against its swept overrides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows) + 2), 4.0))
    labels = [r["overrides"].replace(" ", "\n") or r["trial"] for r in rows]
    ax.bar(range(len(rows)), [float(r[METRIC]) for r in rows], color="#4c72b0")
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel(METRIC)
    ax.set_title("sweep: validation loss after training per trial")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


class SweepSummary(Callback):
    """Writes the sweep summary into the sweep dir when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        rows = write_summary(sweep_dir)
        log.info("sweep summary: %d trials -> %s", len(rows), sweep_dir / "sweep_summary.md")
