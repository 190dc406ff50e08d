"""A Job: everything one run needs, built from the config; fit() and write_artifacts()."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from framework.builders import (
    base_model_factory,
    build_datamodule,
    build_optimizer_spec,
    build_source,
    build_tokenizer,
    trainer_arguments,
)
from framework.config.validate import apply_context, build_method
from framework.data.datamodule import ChatDataModule
from framework.errors import UserError
from framework.hardware.consolidate import whole_model
from framework.hardware.plan import HardwarePlan, quantization_for
from framework.hardware.trainer import trainer_kwargs
from framework.tasks.generation import build_generation_eval, generation_report
from framework.tasks.objectives import build_objective
from framework.training.artifacts import (
    model_card,
    redact,
    save_weights,
    write_json_atomically,
    write_text_atomically,
)
from framework.training.callbacks import DataPosition, Throughput, peak_memory_mib
from framework.training.checkpointing import (
    AtomicCheckpointIO,
    FiniteLossGuard,
    RollingCheckpoint,
    newest_readable,
    readable,
)
from framework.training.eos_check import check_saved_tokenizer
from framework.training.loggers import build_loggers
from framework.training.loss_curve import write_loss_curve
from framework.training.module import FineTuneModule
from framework.training.preemption import Preemption
from framework.training.progress import StepProgressBar
from framework.training.reload_check import load_saved, max_logit_difference
from framework.training.step_times import StepTimes
from framework.training.task_report import task_metrics

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One fine-tuning run, assembled from flat pieces."""

    cfg: DictConfig
    run_dir: Path
    tokenizer: Any
    datamodule: ChatDataModule
    module: FineTuneModule
    trainer: pl.Trainer
    throughput: Throughput
    resume_from: str | None

    @classmethod
    def from_config(cls, cfg: DictConfig, plan: HardwarePlan) -> Job:
        """`plan`: the run's hardware, resolved once by framework.run.train."""
        pl.seed_everything(int(cfg.run.seed), workers=True, verbose=False)
        run_dir = Path(str(cfg.paths.run_dir))
        cache_dir = Path(str(cfg.paths.cache_dir))
        tokenizer = build_tokenizer(cfg.model, build_source(cfg.model), cache_dir)
        task = str(cfg.task.name)
        datamodule = build_datamodule(cfg.dataset, tokenizer, int(cfg.run.seed), task, cache_dir)
        method = build_method(cfg.method)
        module = FineTuneModule(
            build_base=base_model_factory(
                cfg, tokenizer, quantization_for(method.quantization(), plan), datamodule.labels
            ),
            method=method,
            apply_context=apply_context(cfg),
            optimizer_spec=build_optimizer_spec(
                cfg.optim, int(cfg.trainer.max_steps), plan.offload_optimizer
            ),
            objective=build_objective(task, datamodule.labels),
            generation=build_generation_eval(
                task,
                str(cfg.dataset.format),
                datamodule.val_rows,
                tokenizer,
                cfg.dataset.system_prompt,
                int(cfg.task.generate_rows),
                int(cfg.task.max_new_tokens),
                str(cfg.method.name),
            ),
        )
        throughput = Throughput(cfg.trainer.log_every_n_steps)
        checkpoints = (
            RollingCheckpoint(run_dir / "checkpoints", int(cfg.run.checkpoint_every_n_steps))
            if cfg.run.save_checkpoints
            else None
        )
        callbacks: list[pl.Callback] = [
            throughput,
            DataPosition(),
            FiniteLossGuard(checkpoints),
            Preemption(checkpoints),
        ]
        if checkpoints is not None:
            callbacks.append(checkpoints)
        if cfg.trainer.enable_progress_bar:
            callbacks.append(StepProgressBar(throughput))
        if cfg.run.step_times:
            callbacks.append(StepTimes(run_dir / "step_times.csv"))
        trainer = pl.Trainer(
            **trainer_kwargs(plan),
            **trainer_arguments(cfg.trainer),
            default_root_dir=str(run_dir),
            logger=build_loggers(
                str(cfg.logger.backend),
                str(run_dir),
                str(cfg.logger.project),
                str(cfg.run.name),
                str(cfg.logger.wandb_mode),
            ),
            callbacks=callbacks,
            enable_checkpointing=False,  # RollingCheckpoint saves (atomically, see plugins)
            plugins=[AtomicCheckpointIO()],
            num_sanity_val_steps=0,
            inference_mode=False,  # eval metrics keep normal tensors across validate and fit
            use_distributed_sampler=False,  # the datamodule shards by rank (resumable)
        )
        return cls(
            cfg,
            run_dir,
            tokenizer,
            datamodule,
            module,
            trainer,
            throughput,
            _resume_path(str(cfg.run.resume), run_dir),
        )

    def _evaluate(self) -> dict[str, float]:
        self.trainer.validate(self.module, datamodule=self.datamodule, verbose=False)
        found = self.trainer.callback_metrics
        return {k: float(v) for k, v in found.items() if k.startswith(("val/", "train_eval/"))}

    def fit(self) -> dict[str, Any]:
        """Validate, train, validate again; return the numbers for metrics.json."""
        before = self._evaluate()
        if self.resume_from:
            log.info("resuming from %s", self.resume_from)
        self.trainer.fit(
            self.module, datamodule=self.datamodule, ckpt_path=self.resume_from, weights_only=True
        )
        after = self._evaluate()
        trainable, total = self.module.parameter_counts()
        stats = self.datamodule.stats
        return {
            "val_loss_before": before["val/loss"],
            "val_loss_after": after["val/loss"],
            "train_loss_before": before["train_eval/loss"],
            "train_loss_after": after["train_eval/loss"],
            "steps": int(self.trainer.global_step),
            "tokens_per_second": round(self.throughput.tokens_per_second, 2),
            "seconds_per_step": round(self.throughput.seconds / max(1, self.throughput.steps), 3),
            "cpu_seconds_per_step": round(
                self.throughput.cpu_seconds / max(1, self.throughput.steps), 3
            ),
            "train_tokens": self.throughput.tokens,
            "peak_memory_mib": round(peak_memory_mib(), 1),
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_percent": round(100.0 * trainable / total, 4),
            "train_rows": stats["train"].rows,
            "val_rows": stats["val"].rows,
            "truncated_rows": stats["train"].truncated + stats["val"].truncated,
            **task_metrics(before, after, self.datamodule),
            **generation_report(after, self.module.generation),
        }

    def _loss_curve(self) -> str | None:
        """Draw loss_curve.png from logs/metrics.csv; its name for the model card."""
        png = self.run_dir / "loss_curve.png"
        drawn = write_loss_curve(self.run_dir / "logs/metrics.csv", png, str(self.cfg.run.name))
        return png.name if drawn else None

    def write_artifacts(self, metrics: dict[str, Any], command: str) -> None:
        """Rank 0 writes weights, tokenizer, config, metrics and the model card.

        Every rank calls it: sharded runs (ZeRO-3, FSDP) first gather the weights to rank 0.
        """
        net = whole_model(self.trainer.strategy, self.module)
        if net is None or not self.trainer.is_global_zero:
            return
        cfg = self.cfg
        produces_adapter = self.module.method.capabilities.produces_adapter
        weights = save_weights(net, self.run_dir, produces_adapter)
        reloaded = load_saved(weights, self.module.build_base)
        batch = next(iter(self.datamodule.val_dataloader()[0]))
        metrics["reload_max_logit_diff"] = max_logit_difference(net, reloaded, batch)
        del reloaded
        self.tokenizer.save_pretrained(str(self.run_dir / "tokenizer"))
        samples = self._write_samples()
        if str(cfg.task.name) == "causal_lm":
            metrics["chat_template_eos_ok"] = self._check_eos(net)
        write_text_atomically(
            self.run_dir / "config.yaml", redact(OmegaConf.to_yaml(cfg, resolve=True))
        )
        write_json_atomically(self.run_dir / "metrics.json", metrics)
        card = model_card(
            run_name=str(cfg.run.name),
            command=command,
            model_name=str(cfg.model.name),
            method_name=str(cfg.method.name),
            dataset_name=str(cfg.dataset.name),
            metrics=metrics,
            weights_dir=weights.name,
            loss_curve=self._loss_curve(),
            run_dir=str(self.run_dir),
            samples=samples,
        )
        write_text_atomically(self.run_dir / "README.md", redact(card))
        if cfg.run.merge and produces_adapter:  # refused before the run if not mergeable
            merged: Any = self.module.method.merge(net)  # last: folds in place
            merged.save_pretrained(str(self.run_dir / "merged"), safe_serialization=True)

    def _write_samples(self) -> str | None:
        """samples.jsonl: the after-training generations (prompt, reference, generated)."""
        generation = self.module.generation
        if generation is None or not generation.samples:
            return None
        path = self.run_dir / "samples.jsonl"
        lines = [json.dumps(row, ensure_ascii=False) for row in generation.sample_rows()]
        write_text_atomically(path, "\n".join(lines) + "\n")
        return path.name

    def _check_eos(self, net: Any) -> bool:
        """Whether the saved chat template ends assistant turns with the EOS generation uses."""
        check = check_saved_tokenizer(
            self.run_dir / "tokenizer", net, self.cfg.dataset.system_prompt
        )
        if check.ok:
            log.info("chat template / EOS check: ok (%s)", check.detail)
        else:
            log.warning("chat template / EOS check FAILED: %s", check.detail)
        return check.ok


def _resume_path(resume: str, run_dir: Path) -> str | None:
    """never: start fresh; auto: newest readable checkpoint in the run dir; else a path."""
    if resume == "never":
        return None
    if resume == "auto":
        found = newest_readable(run_dir / "checkpoints")
        return str(found) if found else None
    path = Path(resume)
    if not path.exists():  # a file, or a DeepSpeed checkpoint folder
        raise UserError(f"run.resume='{resume}': no such checkpoint file (or use auto / never)")
    if not readable(path):
        raise UserError(f"run.resume='{resume}': the checkpoint is truncated or corrupt")
    return resume
