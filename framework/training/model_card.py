"""The run's model card (README.md in the run dir): metrics, loss curve, reproduce, load, use."""

from __future__ import annotations

from typing import Any

from framework.training.card_meta import (
    CardMeta,
    front_matter,
    project_link,
    provenance_section,
)


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
    meta: CardMeta | None = None,
    provenance: dict[str, str] | None = None,
) -> str:
    """A README.md: the run, its metrics and loss curve, how to reproduce, load and use it;
    with `meta`, the Hugging Face front matter first (framework.training.card_meta)."""
    rows = "\n".join(
        f"| {k} | {_fmt(v)} |"
        for k, v in sorted(metrics.items())
        if not isinstance(v, (dict, list)) and not k.startswith("collapse_")
    )
    quality = _collapse_section(metrics) + _best_section(metrics) + _per_class_section(metrics)
    quality += _preference_section(metrics) + _lr_section(metrics)
    load = (
        "from peft import PeftModel\n"
        f"model = PeftModel.from_pretrained(base_model, '{weights_dir}')"
        if weights_dir == "adapter"
        else f"model = AutoModelForCausalLM.from_pretrained('{weights_dir}')"
    )
    curve = f"\n## Loss curve\n\n![loss curve]({loss_curve})\n" if loss_curve else ""
    use = _use_section(run_dir) if run_dir else ""
    generated = _samples_section(samples, metrics) if samples else ""
    header = front_matter(meta) if meta else ""
    made = provenance_section(provenance) if provenance else ""
    return f"""{header}# {run_name}: {method_name} on {model_name}

Fine-tuned with {project_link()} on dataset `{dataset_name}`.

## Reproduce

```bash
{command}
```

{quality}## Metrics

| metric | value |
|---|---|
{rows}
{curve}{generated}
## Load

```python
{load}
```

The tokenizer (with its chat template) is in `tokenizer/`; the resolved config in `config.yaml`.
{use}{made}"""


def _collapse_section(metrics: dict[str, Any]) -> str:
    """A warning when the model collapsed (one class, or empty/identical generations)."""
    if not metrics.get("collapsed"):
        return ""
    from framework.tasks.collapse import collapse_message

    fixes = "\n".join(f"- {fix}" for fix in metrics.get("collapse_fixes", []))
    return f"""## WARNING: collapsed

{collapse_message(metrics).split(". Likely fixes:")[0]} (`collapsed: true` in metrics.json).

Likely fixes:

{fixes}

"""


def _best_section(metrics: dict[str, Any]) -> str:
    """Which validation check was best, and whether its weights are the ones saved."""
    if "best_step" not in metrics:
        return ""
    kept = (
        "The saved weights are this check's (run.keep_best)."
        if metrics.get("kept_best")
        else "The saved weights are the last step's (keep the best with run.keep_best=<metric>)."
    )
    stopped = (
        " Training stopped early (run.early_stopping_patience)."
        if metrics.get("stopped_early")
        else ""
    )
    return (
        f"## Best check\n\nBest {metrics['best_metric']} = {_fmt(metrics['best_value'])} at "
        f"step {metrics['best_step']} of {metrics.get('steps', '?')} "
        f"({metrics.get('validation_checks', '?')} validation checks). {kept}{stopped}\n\n"
    )


def _per_class_section(metrics: dict[str, Any]) -> str:
    """Precision, recall, F1 and support of every class (head tasks)."""
    per_class = metrics.get("per_class")
    if not isinstance(per_class, dict) or not per_class:
        return ""
    lines = [
        f"| {name} | {_fmt(s['precision'])} | {_fmt(s['recall'])} | {_fmt(s['f1'])} "
        f"| {s['support']} |"
        for name, s in per_class.items()
    ]
    table = "\n".join(lines)
    return f"""## Per class (held-out split)

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{table}

"""


def _lr_section(metrics: dict[str, Any]) -> str:
    """optim.lr=auto: the learning rate the LR finder picked, and where its sweep is."""
    if not metrics.get("lr_auto"):
        return ""
    return (
        f"## Learning rate\n\nTrained at optim.lr={_fmt(metrics['lr_found'])}, the LR "
        "finder's suggestion (optim.lr=auto): `lr_finder.json` holds the sweep.\n\n"
        "![LR finder](lr_finder.png)\n\n"
    )


# Preference tasks' held-out metrics (framework.tasks.preference_objectives), in card order.
PREFERENCE_METRICS = (
    ("reward_accuracy", "share of pairs whose chosen reply gets the higher implicit reward"),
    ("reward_margin", "mean chosen reward minus mean rejected reward"),
    ("rewards_chosen", "mean implicit reward of the chosen replies"),
    ("rewards_rejected", "mean implicit reward of the rejected replies"),
    ("logps_chosen", "mean summed log-probability of the chosen replies"),
    ("logps_rejected", "mean summed log-probability of the rejected replies"),
    (
        "logp_accuracy",
        "share of pairs where the model gives the chosen reply the higher "
        "per-token log-probability",
    ),
    ("log_odds_ratio", "ORPO: log odds of the chosen reply over the rejected one"),
    ("nll_chosen", "ORPO: per-token negative log-likelihood of the chosen reply"),
    ("kl", "KTO: the batch's KL reference point"),
)


def _preference_section(metrics: dict[str, Any]) -> str:
    """Preference tasks: reward accuracy, margin, chosen/rejected rewards and log-probabilities
    on the held-out pairs, before and after training."""
    if "val_reward_accuracy_after" not in metrics:
        return ""
    rows = [
        f"| {name} | {_fmt(metrics.get(f'val_{name}_before'))} "
        f"| {_fmt(metrics[f'val_{name}_after'])} | {meaning} |"
        for name, meaning in PREFERENCE_METRICS
        if f"val_{name}_after" in metrics
    ]
    table = "\n".join(rows)
    return f"""## Preference metrics (held-out pairs)

Rewards are beta times the log-ratio to the reference model (DPO, KTO) or beta times the mean
token log-probability (SimPO, ORPO); before training every DPO/KTO reward is 0 (accuracy 0.5).

| metric | before | after | meaning |
|---|---|---|---|
{table}

"""


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
