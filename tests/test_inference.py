"""evaluate.py and generate.py on a tiny LoRA run: metrics reproduced, chat template, EOS."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from framework.inference.generate import (
    Sampling,
    conversation,
    cut_at_stop,
    decode_loop,
    generate_tokens,
    pick_next,
    prompt_ids,
    stop_token_ids,
)
from tests.helpers import ROOT, train_tiny


def run_script(
    script: str, args: list[str], stdin: str | None = None, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run one of the top-level scripts (evaluate.py, generate.py, export.py)."""
    return subprocess.run(
        [sys.executable, *flags, str(ROOT / script), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, train_py: object) -> Path:
    """One tiny LoRA run for the module (train_py: its users are e2e)."""
    return train_tiny(tmp_path_factory.mktemp("inference"), "method=lora")


def test_evaluate_reproduces_the_validation_loss_in_metrics_json(lora_run: Path) -> None:
    result = run_script("evaluate.py", [f"run_dir={lora_run}"])
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads((lora_run / "eval_val.json").read_text())
    metrics = json.loads((lora_run / "metrics.json").read_text())
    assert scored["split"] == "val" and scored["examples"] == metrics["val_rows"]
    assert scored["task"] == "causal_lm" and scored["loss_terms"] > 0
    assert scored["loss"] == pytest.approx(metrics["val_loss_after"], abs=1e-5)
    assert scored["difference_from_training"] < 1e-5
    assert scored["perplexity"] == pytest.approx(torch.tensor(scored["loss"]).exp().item())
    assert scored["perplexity"] == pytest.approx(metrics["val_perplexity_after"], rel=1e-4)


def test_evaluate_train_sample_reproduces_the_train_loss(lora_run: Path) -> None:
    from framework.inference.evaluate import evaluate_run
    from framework.inference.run_dir import open_run_dir

    run = open_run_dir(str(lora_run))
    scored = evaluate_run(run, "train_eval", None, 3, torch.device("cpu"))  # other batching
    assert scored["loss"] == pytest.approx(run.metrics()["train_loss_after"], abs=1e-5)
    assert (lora_run / "eval_train_eval.json").is_file()


def test_generate_answers_one_prompt_verbatim(lora_run: Path) -> None:
    prompt = "prompt=Hello, [world]: what's up?"  # commas and brackets are not Hydra syntax
    result = run_script("generate.py", [f"run_dir={lora_run}", prompt, "max_new_tokens=4"])
    assert result.returncode == 0, result.stderr[-3000:]


def test_generate_warns_when_training_found_the_template_does_not_stop(
    lora_run: Path, tmp_path: Path
) -> None:
    metrics = json.loads((lora_run / "metrics.json").read_text())
    assert metrics["chat_template_eos_ok"] is True
    args = ["prompt=Hi", "max_new_tokens=2"]
    ok = run_script("generate.py", [f"run_dir={lora_run}", *args])
    assert ok.returncode == 0 and "chat_template_eos_ok is false" not in ok.stderr
    broken = tmp_path / "run"
    shutil.copytree(lora_run, broken)
    (broken / "metrics.json").write_text(json.dumps({**metrics, "chat_template_eos_ok": False}))
    warned = run_script("generate.py", [f"run_dir={broken}", *args])
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert f"{broken}/metrics.json: chat_template_eos_ok is false" in warned.stderr


def test_chat_mode_keeps_history_resets_and_exits(lora_run: Path) -> None:
    stdin = "hello there\n/reset\nsecond message\n/exit\n"
    result = run_script("generate.py", [f"run_dir={lora_run}", "max_new_tokens=3"], stdin)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("assistant>") == 2
    assert "(history cleared)" in result.stdout


def test_prompt_uses_the_runs_chat_template_and_eos(lora_run: Path) -> None:
    from framework.inference.load import load_run_tokenizer
    from framework.inference.run_dir import open_run_dir

    tokenizer = load_run_tokenizer(open_run_dir(str(lora_run)))
    ids = prompt_ids(tokenizer, conversation([{"role": "user", "content": "hi"}], "Be brief."))
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert stop_token_ids(tokenizer) == [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def test_decoding_stops_at_eos_and_drops_it() -> None:
    eos, vocab = 2, 10
    script = [7, 8, eos, 9]

    def logits_fn(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - 3  # the prompt has 3 tokens
        out = torch.zeros(1, input_ids.shape[1], vocab)
        out[0, -1, script[step]] = 10.0
        return out

    assert decode_loop(logits_fn, [1, 1, 1], Sampling(max_new_tokens=10), [eos]) == [7, 8]
    assert decode_loop(logits_fn, [1, 1, 1], Sampling(max_new_tokens=1), [eos]) == [7]
    assert cut_at_stop([5, 6, eos, 7], [eos]) == [5, 6]


def test_transformers_generate_stops_at_eos() -> None:
    from framework.config.schema import RandomInitConfig
    from framework.models.loader import build_random_llama

    model = build_random_llama(RandomInitConfig(), vocab_size=32, seed=0).eval()
    head = torch.nn.Linear(64, 32, bias=True)
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.zero_()
        head.bias[2] = 50.0  # EOS always wins
    model.lm_head = head
    tokens = generate_tokens(model, [1, 5, 6], Sampling(max_new_tokens=20), [2], pad_id=2)
    assert tokens == []


def test_top_p_sampling_keeps_only_the_nucleus() -> None:
    logits = torch.tensor([5.0, 4.9, -10.0, -10.0])
    generator = torch.Generator().manual_seed(0)
    picks = {pick_next(logits, Sampling(do_sample=True, top_p=0.5), generator) for _ in range(50)}
    assert picks <= {0, 1}
    assert pick_next(logits, Sampling(), None) == 0


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("script", "args", "fragment"),
    [
        ("evaluate.py", [], "run_dir is required: python evaluate.py run_dir=<run dir>"),
        ("evaluate.py", ["run_dir=/no/such/dir"], "run_dir='/no/such/dir': no such folder"),
        ("evaluate.py", ["run_dir=/tmp", "split=tset"], "Allowed: train, train_eval, val."),
        ("generate.py", ["run_dir=/tmp", "backend=tf"], "backend='tf' is not allowed"),
        ("export.py", ["run_dir=/tmp", "format=onx"], "Did you mean 'onnx'?"),
        ("export.py", ["run_dir=/tmp", "fromat=onnx"], "fromat: unknown key"),
        ("export.py", ["run_dir=/tmp"], "run_dir='/tmp': no config.yaml there"),
    ],
)
def test_user_errors_exit_2_with_one_message_and_no_torch(
    script: str, args: list[str], fragment: str
) -> None:
    result = run_script(script, args, flags=("-X", "importtime"))
    assert result.returncode == 2
    messages = [line for line in result.stderr.splitlines() if not line.startswith("import time")]
    assert fragment in "\n".join(messages)
    assert "Traceback" not in result.stderr
    assert "| torch\n" not in result.stderr  # config-only paths do not import torch


def test_generate_onnx_backend_needs_an_export_first(lora_run: Path) -> None:
    result = run_script("generate.py", [f"run_dir={lora_run}", "backend=onnx", "prompt=hi"])
    assert result.returncode == 2
    assert "format=onnx` first" in result.stderr


def test_prompt_arguments_are_taken_verbatim() -> None:
    from framework.cli.tool import compose_tool_config

    text = "Hi, [you]: what's ${oc.env:HOME} = 2+2?"
    cfg = compose_tool_config(
        ROOT / "conf", "generate", ["run_dir=/x", f"prompt={text}", "system_prompt=a, b"]
    )
    assert cfg.prompt == text and cfg.system_prompt == "a, b"
