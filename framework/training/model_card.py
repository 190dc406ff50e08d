"""The run's model card (README.md in the run dir): metrics, loss curve, reproduce, load, use."""

from __future__ import annotations

from typing import Any


def model_card(
    run_name: str,
    command: str,
    model_name: str,
    method_name: str,
    dataset_name: str,
    metrics: dict[str, Any],
    weights_dir: str,
    loss_curve: str | None = None,
    run_dir: str | None = None,
    samples: str | None = None,
) -> str:
    """A README.md: the run, its metrics and loss curve, how to reproduce, load and use it."""
    rows = "\n".join(
        f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items()) if not isinstance(v, dict)
    )
    load = (
        "from peft import PeftModel\n"
        f"model = PeftModel.from_pretrained(base_model, '{weights_dir}')"
        if weights_dir == "adapter"
        else f"model = AutoModelForCausalLM.from_pretrained('{weights_dir}')"
    )
    curve = f"\n## Loss curve\n\n![loss curve]({loss_curve})\n" if loss_curve else ""
    use = _use_section(run_dir) if run_dir else ""
    generated = _samples_section(samples, metrics) if samples else ""
    return f"""# {run_name}: {method_name} on {model_name}

Fine-tuned with [hydratune](https://github.com/) on dataset `{dataset_name}`.

## Reproduce

```bash
{command}
```

## Metrics

| metric | value |
|---|---|
{rows}
{curve}{generated}
## Load

```python
{load}
```

The tokenizer (with its chat template) is in `tokenizer/`; the resolved config in `config.yaml`.
{use}"""


def _use_section(run_dir: str) -> str:
    return f"""
## Use

```bash
python evaluate.py run_dir={run_dir}                  # metrics on the held-out split
python generate.py run_dir={run_dir} prompt="Hello!"  # one reply; no prompt: chat
python export.py run_dir={run_dir} format=merged      # or format=onnx; parity-checked
```
"""


def _samples_section(samples: str, metrics: dict[str, Any]) -> str:
    stop = metrics.get("eos_stop_rate")
    rate = f" {_fmt(100 * stop)}% of them stopped at EOS." if isinstance(stop, float) else ""
    eos = metrics.get("chat_template_eos_ok")
    check = (
        ""
        if eos is None
        else " The chat template ends assistant turns with the EOS token generation stops at."
        if eos
        else " WARNING: the chat template does not end assistant turns with the EOS token "
        "generation stops at (chat_template_eos_ok: false); replies may not stop."
    )
    return f"""
## Generation samples

`{samples}`: greedy answers after training to held-out prompts, one JSON object per line
(prompt, reference, generated, stopped_at_eos).{rate}{check}
"""


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
