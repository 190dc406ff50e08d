"""The work behind evaluate.py, generate.py and export.py: config checks first, torch later."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from framework.errors import UserError, allowed_list
from framework.inference.run_dir import RunDir, open_run_dir
from framework.tasks.registry import CAUSAL_LM, TASKS

log = logging.getLogger(__name__)


def _quiet_progress_bars() -> None:
    """No per-file loading/saving bars from transformers in these short commands."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def evaluate_command(cfg: DictConfig) -> None:
    """Score the run on a split; print the numbers and write eval_<split>.json."""
    run = open_run_dir(str(cfg.run_dir))
    from framework.inference.evaluate import evaluate_run
    from framework.inference.load import resolve_device

    _quiet_progress_bars()

    result = evaluate_run(
        run, str(cfg.split), cfg.limit, cfg.batch_size, resolve_device(str(cfg.device))
    )
    print(json.dumps(result, indent=2, sort_keys=True))
    print(f"wrote {run.path / f'eval_{cfg.split}.json'}")


def _require_causal_lm(run: RunDir, tool: str) -> None:
    generative = [name for name, spec in TASKS.items() if spec.generative]
    if run.task not in generative:
        raise UserError(
            f"{tool} works on task={CAUSAL_LM} runs; this run's task is {run.task} "
            f"(allowed: {allowed_list(generative)}). evaluate.py scores it with its task's metrics."
        )


def _warn_if_replies_may_not_stop(run: RunDir) -> None:
    """Training found that the saved chat template does not end a turn with a stop token."""
    if run.metrics().get("chat_template_eos_ok") is False:
        log.warning(
            "%s/metrics.json: chat_template_eos_ok is false: the saved chat template does not "
            "end an assistant turn with the EOS token, so replies may run to max_new_tokens",
            run.path,
        )


def _onnx_dir(cfg: DictConfig, run_path: Path) -> Path:
    folder = Path(str(cfg.onnx_dir)).expanduser() if cfg.onnx_dir else run_path / "export/onnx"
    if not (folder / "model.onnx").is_file():
        raise UserError(
            f"backend=onnx needs an ONNX export, and {folder} has no model.onnx: run "
            f"`python export.py run_dir={run_path} format=onnx` first (or set onnx_dir=)"
        )
    return folder


def _onnx_context(onnx_dir: Path) -> int | None:
    """The exported model's context length, from the config.json written beside it."""
    import json

    config = onnx_dir / "config.json"
    value = (
        json.loads(config.read_text()).get("max_position_embeddings") if config.is_file() else None
    )
    return int(value) if isinstance(value, int) else None


def generate_command(cfg: DictConfig) -> None:
    """Answer one prompt, or chat interactively when no prompt is given."""
    run = open_run_dir(str(cfg.run_dir))
    _require_causal_lm(run, "generate.py")
    _warn_if_replies_may_not_stop(run)
    onnx_dir = _onnx_dir(cfg, run.path) if cfg.backend == "onnx" else None
    import torch

    from framework.inference.chat import chat_loop
    from framework.inference.generate import (
        LogitsEngine,
        ReplyEngine,
        Sampling,
        TorchEngine,
        conversation,
    )
    from framework.inference.load import load_model, load_run_tokenizer, resolve_device

    _quiet_progress_bars()
    torch.manual_seed(int(cfg.seed))
    sampling = Sampling(
        int(cfg.max_new_tokens), bool(cfg.do_sample), float(cfg.temperature), float(cfg.top_p)
    )
    engine: ReplyEngine
    if onnx_dir is not None:
        from transformers import AutoTokenizer

        from framework.export.onnx import OnnxLogits

        tokenizer = AutoTokenizer.from_pretrained(str(onnx_dir))
        logits = OnnxLogits(onnx_dir / "model.onnx")
        engine = LogitsEngine(logits, tokenizer, sampling, cfg.seed, _onnx_context(onnx_dir))
    else:
        tokenizer = load_run_tokenizer(run)
        model = load_model(run, tokenizer, resolve_device(str(cfg.device)))
        engine = TorchEngine(model, tokenizer, sampling)
    system = cfg.system_prompt if cfg.system_prompt is not None else run.cfg.dataset.system_prompt
    if cfg.prompt is None:
        chat_loop(engine, system)
        return
    print(engine.reply(conversation([{"role": "user", "content": str(cfg.prompt)}], system)))


def export_command(cfg: DictConfig) -> None:
    """Export the run (merged or ONNX) after a parity check; refuse what cannot be exported."""
    run = open_run_dir(str(cfg.run_dir))
    _require_causal_lm(run, "export.py")
    if str(cfg.format) == "kaito":  # no weights are loaded: the adapter is served as it is
        from framework.launchers.kaito_output import export_for_kaito

        output = Path(str(cfg.output_dir)).expanduser() if cfg.output_dir else None
        for line in export_for_kaito(run, cfg.kaito, output):
            print(line)
        return
    from framework.export.policy import check_exportable

    check_exportable(run)
    from framework.export.parity import ParitySettings
    from framework.export.pipeline import default_output_dir, export_run

    _quiet_progress_bars()

    output = (
        Path(str(cfg.output_dir)).expanduser()
        if cfg.output_dir
        else default_output_dir(run, str(cfg.format))
    )
    p = cfg.parity
    settings = ParitySettings(
        int(p.prompts),
        None if p.max_logit_diff is None else float(p.max_logit_diff),
        float(p.min_agreement),
        int(p.greedy_steps),
        str(p.on_fail),
    )
    report = export_run(run, str(cfg.format), output, int(cfg.opset), settings)
    print(report.summary())
    print(f"export: {output}")
