"""Loggers: csv, tensorboard and wandb (offline) receive the same metrics; the loss curve."""

from __future__ import annotations

import csv
import json
import math
import struct
from pathlib import Path

import pytest

from framework.training.loss_curve import read_series, write_loss_curve
from tests.helpers import train_tiny

METRICS = ("train/loss", "val/loss", "tok/s", "peak_mem_mib")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _train(out: Path, logger: str, env: dict[str, str] | None = None) -> Path:
    return train_tiny(out, f"logger={logger}", extra_env=env)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory, train_py: object) -> Path:
    """One tiny run with the CSV logger (train_py: its users are e2e)."""
    return _train(tmp_path_factory.mktemp("csv"), "csv")


def csv_values(run_dir: Path) -> dict[str, list[float]]:
    """Each metric's values in logging order, from logs/metrics.csv."""
    found: dict[str, list[float]] = {key: [] for key in METRICS}
    with (run_dir / "logs" / "metrics.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            for key in METRICS:
                if row.get(key):
                    found[key].append(float(row[key]))
    return found


def assert_same_values(got: dict[str, list[float]], expected: dict[str, list[float]]) -> None:
    for key in METRICS:
        assert len(got[key]) == len(expected[key]), key
        for a, b in zip(got[key], expected[key], strict=True):
            assert math.isclose(a, b, rel_tol=1e-6), (key, a, b)


def test_csv_logger_receives_loss_throughput_and_memory(csv_run: Path) -> None:
    values = csv_values(csv_run)
    assert len(values["train/loss"]) == 4  # one per optimizer step
    assert len(values["val/loss"]) == 2  # before and after training
    assert len(values["tok/s"]) == 4 and min(values["tok/s"]) > 0
    assert len(values["peak_mem_mib"]) == 4 and min(values["peak_mem_mib"]) > 100
    metrics = json.loads((csv_run / "metrics.json").read_text())
    assert values["val/loss"][-1] == pytest.approx(metrics["val_loss_after"], rel=1e-6)


def test_loss_curve_png_is_drawn_and_linked_from_the_model_card(csv_run: Path) -> None:
    png = csv_run / "loss_curve.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 5_000
    card = (csv_run / "README.md").read_text()
    assert "![loss curve](loss_curve.png)" in card
    assert "| val_loss_after |" in card and "| tokens_per_second |" in card
    assert f"python evaluate.py run_dir={csv_run}" in card


@pytest.mark.e2e
def test_tensorboard_receives_the_same_metrics(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = _train(tmp_path_factory.mktemp("tb"), "tensorboard")
    events = EventAccumulator(str(run_dir / "logs"))
    events.Reload()
    assert set(METRICS) <= set(events.Tags()["scalars"])
    got = {key: [e.value for e in events.Scalars(key)] for key in METRICS}
    assert_same_values(got, csv_values(run_dir))  # the CSV is always written beside it
    assert (run_dir / "loss_curve.png").is_file()


def wandb_records(path: Path) -> list[bytes]:
    """The records of a .wandb file (a LevelDB-style log: 32 KiB blocks, 7-byte headers)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a wandb transaction log"
    records, pending, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the rest of a block is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:  # full
            records.append(chunk)
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            records.append(pending + chunk)
    return records


def wandb_history(run_dir: Path) -> dict[str, list[float]]:
    from wandb.proto import wandb_internal_pb2

    (log_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    found: dict[str, list[float]] = {key: [] for key in METRICS}
    for raw in wandb_records(log_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") != "history":
            continue
        for item in record.history.item:
            key = item.key or "/".join(item.nested_key)
            if key in found:
                found[key].append(float(json.loads(item.value_json)))
    return found


@pytest.mark.e2e
def test_wandb_offline_receives_the_same_metrics(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("wandb")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(out)}
    run_dir = _train(out, "wandb", env)
    assert_same_values(wandb_history(run_dir), csv_values(run_dir))
    assert (run_dir / "loss_curve.png").is_file()


def test_loss_curve_reads_lightning_csv_and_skips_when_empty(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "epoch,step,train/loss,val/loss\n0,0,,3.0\n0,0,2.9,\n0,1,2.5,\n1,2,,2.4\n",
        encoding="utf-8",
    )
    assert read_series(metrics) == {
        "train/loss": [(0, 2.9), (1, 2.5)],
        "val/loss": [(0, 3.0), (2, 2.4)],
    }
    png = tmp_path / "curve.png"
    assert write_loss_curve(metrics, png, "t")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert not write_loss_curve(tmp_path / "missing.csv", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
