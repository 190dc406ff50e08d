"""A Job, read as a recipe: build every piece from its config group, fit, write the run dir."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from framework.builders.data import build_datamodule
from framework.builders.method import build_method
from framework.builders.model import build_source, build_tokenizer
from framework.builders.module import build_module
from framework.builders.trainer import build_callbacks, build_trainer
from framework.data.datamodule import TaskDataModule
from framework.hardware.consolidate import whole_model
from framework.hardware.plan import HardwarePlan, quantization_for
from framework.hardware.trainer import trainer_kwargs
from framework.tasks.collapse import collapse_message, generation_degeneracy
from framework.tasks.generation import generation_report
from framework.tasks.preference_objectives import PreferenceObjective
from framework.training.artifacts import write_run_dir
from framework.training.best import BestWeights
from framework.training.callbacks import Throughput, peak_memory_mib
from framework.training.module import FineTuneModule
from framework.training.rng import rng_untouched
from framework.training.task_report import task_metrics

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One fine-tuning run, assembled from flat pieces."""

    cfg: DictConfig
    run_dir: Path
    tokenizer: Any
    datamodule: TaskDataModule
    module: FineTuneModule
    trainer: pl.Trainer
    throughput: Throughput
    resume_from: str | None

    @classmethod
    def from_config(
        cls, cfg: DictConfig, plan: HardwarePlan, *, resume_from: Path | None = None
    ) -> Job:
        """Build: tokenizer, data, method, module, callbacks and Trainer, each from its group
        (`plan`: the run's hardware, resolved once by framework.run.train; `resume_from`: the
        checkpoint it checked with framework.training.resume_check)."""
        pl.seed_everything(int(cfg.run.seed), workers=True, verbose=False)
        run_dir = Path(str(cfg.paths.run_dir))
        cache_dir = Path(str(cfg.paths.cache_dir))
        tokenizer = build_tokenizer(cfg.model, build_source(cfg.model), cache_dir)
        datamodule = build_datamodule(
            cfg.dataset,
            tokenizer=tokenizer,
            seed=int(cfg.run.seed),
            task=str(cfg.task.name),
            cache_dir=cache_dir,
        )
        method = build_method(cfg.method)
        module = build_module(
            cfg,
            method=method,
            tokenizer=tokenizer,
            datamodule=datamodule,
            quantization=quantization_for(method.quantization(), plan),
            offload_optimizer=plan.offload_optimizer,
        )
        callbacks, throughput = build_callbacks(cfg, run_dir)
        trainer = build_trainer(
            cfg,
            hardware_kwargs=trainer_kwargs(plan),
            run_dir=run_dir,
            callbacks=callbacks,
        )
        resume = str(resume_from) if resume_from else None
        return cls(cfg, run_dir, tokenizer, datamodule, module, trainer, throughput, resume)

    def fit(self) -> dict[str, Any]:
        """Train, then validate the base and the trained model; the numbers for metrics.json.

        Nothing stands between the user and step 1 where it can wait: a method whose adapted
        model starts as its base measures the base after training, adapter disabled; any
        other reads the base's numbers from the cache, or validates before training once per
        model x data x evaluation setting (framework.training.before_metrics).
        """
        # Preference tasks score against a reference that itself disables the adapter (nested
        # disable_adapter() contexts re-enable it on exit): they take the cached path.
        preference = isinstance(self.module.objective, PreferenceObjective)
        deferred = self.module.method.starts_as_base() and not preference
        before = None if deferred else self._before_cached_or_measured()
        if self.resume_from:
            log.info("resuming from %s", self.resume_from)
        self.trainer.fit(
            self.module, datamodule=self.datamodule, ckpt_path=self.resume_from, weights_only=True
        )
        if before is None:
            before = self._evaluate_base()
        after = self._evaluate()  # last: samples.jsonl and val_report are the trained model's
        best = self._best_check(after)
        if best.get("kept_best") and best["best_step"] != int(self.trainer.global_step):
            log.info(
                "restored the weights of step %d (best %s=%.6g)",
                best["best_step"],
                best["best_metric"],
                best["best_value"],
            )
            after = self._evaluate()
        return {
            **self._run_numbers(before, after),
            **task_metrics(before, after, self.datamodule),
            **generation_report(after, self.module.generation),
            **best,
            **self._collapse(),
        }

    def _best_check(self, after: dict[str, float]) -> dict[str, Any]:
        """Offer the final weights as a check, restore the best one's (run.keep_best); the
        best step and value for metrics.json."""
        callbacks: list[Any] = getattr(self.trainer, "callbacks", [])
        tracker = next((c for c in callbacks if isinstance(c, BestWeights)), None)
        if tracker is None:
            return {}
        if tracker.metric in after:
            tracker.offer(self.module, after[tracker.metric], int(self.trainer.global_step))
        if tracker.keep and tracker.best_step != int(self.trainer.global_step):
            tracker.restore(self.module)
        return tracker.report()

    def _collapse(self) -> dict[str, Any]:
        """Per-class scores and the collapse of a head onto one class, or of generation into
        empty/identical answers, with a warning naming the likely fixes."""
        found = dict(self.module.val_report)
        generation = self.module.generation
        if generation is not None and generation.samples and "collapsed" not in found:
            degenerate = generation_degeneracy(
                [s.generated for s in generation.samples],
                [s.reference for s in generation.samples],
            )
            found.update(degenerate or {})
        if found.get("collapsed"):
            log.warning(collapse_message(found))
        elif found or (generation is not None and generation.samples):
            found["collapsed"] = False
        return found

    def write(self, metrics: dict[str, Any], command: str) -> None:
        """Write the run dir (rank 0). Every rank calls it: sharded runs (ZeRO-3, FSDP)
        first gather the weights to rank 0."""
        net = whole_model(self.trainer.strategy, self.module)
        if net is None or not self.trainer.is_global_zero:
            return
        write_run_dir(
            self.cfg,
            net=net,
            module=self.module,
            tokenizer=self.tokenizer,
            val_batch=next(iter(self.datamodule.val_dataloader()[0])),
            metrics=metrics,
            command=command,
        )

    def _before_cached_or_measured(self) -> dict[str, float]:
        """The before-training metrics from the cache, else a validation now (then cached)."""
        from framework.data.cache import cache_key
        from framework.training.before_metrics import before_key, load_before, store_before

        data = self.datamodule
        cache_dir = Path(str(self.cfg.paths.cache_dir))
        key = before_key(self.cfg, cache_key((data.train_rows, data.val_rows), data.encoder))
        found = load_before(cache_dir, key)
        if found is not None:
            return found
        with rng_untouched():  # a cache miss must train as a hit does
            before = self._evaluate()
        if self.trainer.is_global_zero:
            store_before(cache_dir, key, before)
        return before

    def _evaluate_base(self) -> dict[str, float]:
        """Validate with the adapter disabled: the untouched base's numbers."""
        disable = getattr(self.module.net, "disable_adapter", None)
        if not callable(disable):
            raise RuntimeError(
                f"method {self.module.method.name} says it starts as its base "
                "(Capabilities.starts_as_base) but its model has no disable_adapter()"
            )
        with disable():
            return self._evaluate()

    def _evaluate(self) -> dict[str, float]:
        self.trainer.validate(self.module, datamodule=self.datamodule, verbose=False)
        found = self.trainer.callback_metrics
        return {k: float(v) for k, v in found.items() if k.startswith(("val/", "train_eval/"))}

    def _run_numbers(self, before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
        """Loss before/after, throughput, memory, parameter and row counts."""
        meter, steps = self.throughput, max(1, self.throughput.steps)
        trainable, total = self.module.parameter_counts()
        stats = self.datamodule.stats
        return {
            "val_loss_before": before["val/loss"],
            "val_loss_after": after["val/loss"],
            "train_loss_before": before["train_eval/loss"],
            "train_loss_after": after["train_eval/loss"],
            "steps": int(self.trainer.global_step),
            "tokens_per_second": round(meter.tokens_per_second, 2),
            "seconds_per_step": round(meter.seconds / steps, 3),
            "cpu_seconds_per_step": round(meter.cpu_seconds / steps, 3),
            "train_tokens": meter.tokens,
            "peak_memory_mib": round(peak_memory_mib(), 1),
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_percent": round(100.0 * trainable / total, 4),
            "train_rows": stats["train"].rows,
            "val_rows": stats["val"].rows,
            "truncated_rows": stats["train"].truncated + stats["val"].truncated,
        }
