"""logs/metrics.csv that survives a resume: a resumed run appends to the earlier attempts' rows
(Lightning's CSV logger deletes the file when its folder is not empty)."""

from __future__ import annotations

import csv
from pathlib import Path

from lightning_fabric.loggers.csv_logs import _ExperimentWriter as FabricExperimentWriter
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.rank_zero import rank_zero_only


class AppendingExperimentWriter(ExperimentWriter):
    """Keeps an existing metrics.csv and its columns; new rows (and new columns) are added."""

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        self.metrics_keys = sorted(set(header))


class AppendingCSVLogger(CSVLogger):
    """CSVLogger whose experiment writer appends across attempts of the same run dir."""

    _writer: AppendingExperimentWriter | None = None

    @property
    @rank_zero_experiment
    def experiment(self) -> FabricExperimentWriter:
        if self._writer is None:
            Path(self.root_dir).mkdir(parents=True, exist_ok=True)
            self._writer = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._writer

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Flush the last rows (the base class looks only at its own writer)."""
        if self._writer is not None:
            self.save()
