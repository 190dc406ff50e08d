"""Plot train and validation loss per step from logs/metrics.csv into loss_curve.png."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)

SERIES = {"train/loss": "train", "val/loss": "validation"}


def read_series(csv_path: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) pairs of each loss column found in a Lightning CSVLogger file."""
    found: dict[str, list[tuple[int, float]]] = {key: [] for key in SERIES}
    if not csv_path.is_file():
        return found
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for key in SERIES:
                value = row.get(key) or ""
                if value.strip() and row.get("step", "").strip():
                    found[key].append((int(float(row["step"])), float(value)))
    return found


def write_loss_curve(csv_path: Path, png_path: Path, title: str = "") -> bool:
    """Draw the loss curve (Agg backend, no display needed); False when there is nothing."""
    series = read_series(csv_path)
    if not any(series.values()):
        log.info("no losses in %s: no loss curve drawn", csv_path)
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for key, label in SERIES.items():
        points = series[key]
        if points:
            steps, values = zip(*points, strict=True)
            style = "-" if key == "train/loss" else "o-"
            axes.plot(steps, values, style, label=label, linewidth=1.5, markersize=4)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (per answer token)")
    axes.set_title(title or "loss")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    tmp = png_path.with_name(png_path.name + ".tmp.png")
    figure.savefig(str(tmp), format="png")
    tmp.replace(png_path)
    return True
