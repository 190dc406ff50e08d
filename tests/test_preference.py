"""Preference tasks: the losses against the papers' formulas, rows, encoding, the reference."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from framework.data.encoders import EncodeStats
from framework.data.formats import RowSpec
from framework.data.load import SourceSpec, load_rows
from framework.data.preference_encoder import PreferenceEncoder
from framework.data.render import IGNORE_INDEX, render_prompt
from framework.data.rows import KTORow, PreferenceRow
from framework.errors import UserError
from framework.tasks import preference
from framework.tasks.preference import PreferenceSpec
from framework.tasks.preference_objectives import DPO, KTO, ORPO, PreferenceObjective, SimPO
from tests.family_kit import smollm2_tokenizer
from tests.helpers import compose_config

# long: trains tiny preference models (kept out of make test-fast)
pytestmark = pytest.mark.e2e

# --- the published formulas, written out independently (plain floats, math only) ------------


def sigma(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def log_sigma(x: float) -> float:
    return math.log(sigma(x))


def paper_dpo(pc: float, pr: float, rc: float, rr: float, beta: float, eps: float) -> float:
    """Rafailov et al. 2023, eq. 7; with eps > 0 the conservative DPO of Mitchell (2023)."""
    margin = beta * math.log(math.exp(pc) / math.exp(rc)) - beta * math.log(
        math.exp(pr) / math.exp(rr)
    )
    return -(1 - eps) * log_sigma(margin) - eps * log_sigma(-margin)


def paper_ipo(pc: float, pr: float, rc: float, rr: float, tau: float) -> float:
    """Azar et al. 2023, eq. 17: (h - 1/(2 tau))^2, h the log-likelihood-ratio difference."""
    h = (pc - rc) - (pr - rr)
    return (h - 1 / (2 * tau)) ** 2


def paper_hinge(pc: float, pr: float, rc: float, rr: float, beta: float) -> float:
    """SLiC-HF (Zhao et al. 2023) hinge on the DPO margin, as in TRL's loss_type=hinge."""
    return max(0.0, 1 - beta * ((pc - rc) - (pr - rr)))


def paper_simpo(pc: float, nc: int, pr: float, nr: int, beta: float, gamma: float) -> float:
    """Meng et al. 2024, eq. 6."""
    return -log_sigma(beta / nc * pc - beta / nr * pr - gamma)


def paper_orpo(pc: float, nc: int, pr: float, nr: int, lam: float) -> float:
    """Hong et al. 2024, eqs. 2-7: L_SFT + lambda L_OR, odds(y) = P / (1 - P), P = exp(mean)."""
    p_w, p_l = math.exp(pc / nc), math.exp(pr / nr)
    odds_w, odds_l = p_w / (1 - p_w), p_l / (1 - p_l)
    return -pc / nc - lam * log_sigma(math.log(odds_w / odds_l))


def paper_kto(
    rows: list[tuple[float, float, bool]],
    kl_pairs: list[tuple[float, float]],
    beta: float,
    wd: float,
    wu: float,
) -> list[float]:
    """Ethayarajh et al. 2024, eq. 8: v(x, y) against z0 = max(0, mean KL of mismatched pairs);
    the loss per row is lambda_y - v(x, y)."""
    z0 = max(0.0, sum(p - r for p, r in kl_pairs) / len(kl_pairs))
    out = []
    for logp, ref, good in rows:
        r = logp - ref
        if good:
            out.append(wd - wd * sigma(beta * (r - z0)))
        else:
            out.append(wu - wu * sigma(beta * (z0 - r)))
    return out


# --- the same log-probabilities through our objectives ---------------------------------------

B = 6
rng = random.Random(0)
POLICY = [rng.uniform(-40, -5) for _ in range(2 * B)]  # first B: chosen / own, then rejected / KL
REF = [rng.uniform(-40, -5) for _ in range(2 * B)]
COUNTS = [rng.randint(3, 30) for _ in range(2 * B)]
DESIRABLE = [rng.random() < 0.5 for _ in range(B)]


def ours(objective: PreferenceObjective) -> list[float]:
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    batch = {"desirable": torch.tensor(DESIRABLE)}
    ref = t(REF) if objective.uses_reference else None
    return objective.losses(t(POLICY), t(COUNTS), ref, batch)["loss"].tolist()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_dpo_sigmoid_matches_the_paper(smoothing: float) -> None:
    got = ours(DPO(PreferenceSpec(beta=0.3, label_smoothing=smoothing)))
    want = [
        paper_dpo(POLICY[i], POLICY[B + i], REF[i], REF[B + i], 0.3, smoothing) for i in range(B)
    ]
    assert got == pytest.approx(want, abs=1e-6)


def test_ipo_and_hinge_match_the_papers() -> None:
    ipo = ours(DPO(PreferenceSpec(beta=0.5, loss="ipo")))
    hinge = ours(DPO(PreferenceSpec(beta=0.05, loss="hinge")))
    pairs = [(POLICY[i], POLICY[B + i], REF[i], REF[B + i]) for i in range(B)]
    assert ipo == pytest.approx([paper_ipo(*p, 0.5) for p in pairs], abs=1e-6)
    assert hinge == pytest.approx([paper_hinge(*p, 0.05) for p in pairs], abs=1e-6)


def test_simpo_matches_the_paper() -> None:
    got = ours(SimPO(PreferenceSpec(beta=2.0, simpo_gamma=0.7)))
    want = [
        paper_simpo(POLICY[i], COUNTS[i], POLICY[B + i], COUNTS[B + i], 2.0, 0.7) for i in range(B)
    ]
    assert got == pytest.approx(want, abs=1e-6)


def test_orpo_matches_the_paper() -> None:
    got = ours(ORPO(PreferenceSpec(orpo_lambda=0.25)))
    want = [paper_orpo(POLICY[i], COUNTS[i], POLICY[B + i], COUNTS[B + i], 0.25) for i in range(B)]
    assert got == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("shift", [0.0, 30.0], ids=["kl-clamped", "kl-positive"])
def test_kto_matches_the_paper(shift: float) -> None:
    global POLICY
    saved = POLICY
    POLICY = POLICY[:B] + [p + shift for p in POLICY[B:]]  # a positive KL estimate when shifted
    try:
        got = ours(KTO(PreferenceSpec(beta=0.2, kto_desirable_weight=1.5)))
        rows = [(POLICY[i], REF[i], DESIRABLE[i]) for i in range(B)]
        kl_pairs = [(POLICY[B + i], REF[B + i]) for i in range(B)]
        assert got == pytest.approx(paper_kto(rows, kl_pairs, 0.2, 1.5, 1.0), abs=1e-6)
    finally:
        POLICY = saved


def test_dpo_starts_at_log_2_and_its_gradient_favours_chosen() -> None:
    chosen = torch.tensor([-10.0], requires_grad=True)
    rejected = torch.tensor([-12.0], requires_grad=True)
    loss = preference.dpo_losses(chosen, rejected, chosen.detach(), rejected.detach(), 0.1)
    assert float(loss.detach()) == pytest.approx(math.log(2))
    loss.sum().backward()
    assert chosen.grad is not None and rejected.grad is not None
    assert float(chosen.grad) < 0 < float(rejected.grad)


# --- rows: formats and bad rows ---------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD_PAIR = {"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."}
GOOD_KTO = {"prompt": "Hi?", "completion": "Hello!", "label": True}


@pytest.mark.parametrize(
    ("fmt", "bad", "reason"),
    [
        ("preference", {"prompt": "Hi?", "chosen": "Same.", "rejected": " Same."}, "same reply"),
        ("preference", {"prompt": "Hi?", "chosen": "", "rejected": "No."}, "non-empty reply"),
        ("preference", {"chosen": "a", "rejected": "b"}, "no prompt"),
        ("kto", {"prompt": "Hi?", "completion": "", "label": True}, "non-empty reply"),
        ("kto", {"prompt": "Hi?", "completion": "Yes.", "label": "yes"}, "must be a boolean"),
        ("kto", {"prompt": "Hi?", "completion": "Yes.", "label": 1}, "must be a boolean"),
    ],
)
def test_bad_preference_rows_name_file_and_line(
    tmp_path: Path, fmt: str, bad: dict[str, Any], reason: str
) -> None:
    good = GOOD_PAIR if fmt == "preference" else GOOD_KTO
    path = write_jsonl(tmp_path / "rows.jsonl", [good, bad])
    with pytest.raises(UserError, match=rf"rows.jsonl:2: .*{reason}"):
        load_rows(SourceSpec("file", str(path)), RowSpec(format=fmt))


def test_conversations_and_column_mapping(tmp_path: Path) -> None:
    convo = {
        "c": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "Good."}],
        "r": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "Bad."}],
    }
    path = write_jsonl(tmp_path / "rows.jsonl", [convo])
    spec = RowSpec(format="preference", columns={"chosen": "c", "rejected": "r"})
    (row,) = load_rows(SourceSpec("file", str(path)), spec).rows
    assert row == PreferenceRow((("user", "Q?"),), "Good.", "Bad.", f"{path}:1")
    csv = tmp_path / "rows.csv"
    csv.write_text("prompt,completion,label\nHi?,Hello!,false\n")
    (kto,) = load_rows(SourceSpec("file", str(csv)), RowSpec(format="kto")).rows
    assert isinstance(kto, KTORow) and kto.desirable is False


# --- encoding through the SFT chat rendering --------------------------------------------------


def test_prompt_is_the_inference_prompt_and_replies_end_with_the_turn_marker() -> None:
    tok = smollm2_tokenizer()
    row = PreferenceRow((("user", "What is 2+2?"),), "It is 4.", "Bananas.", "f:1")
    (example,) = PreferenceEncoder(tok, 128, None, 2).encode([row], EncodeStats())
    prompt = render_prompt(tok, [{"role": "user", "content": "What is 2+2?"}])
    assert example.prompt_ids == tok(prompt, add_special_tokens=False)["input_ids"]
    chosen, rejected = (tok.decode(r) for r in example.replies)
    assert chosen == "It is 4.<|im_end|>" and rejected == "Bananas.<|im_end|>"
    batch = PreferenceEncoder(tok, 128, None, 2).collate([example])
    assert batch["input_ids"].shape[0] == 2
    n = len(example.prompt_ids)
    assert (batch["labels"][:, :n] == IGNORE_INDEX).all()
    assert batch["labels"][0, n : n + len(example.replies[0])].tolist() == example.replies[0]


def test_kto_splits_pairs_and_pairs_each_reply_with_another_prompts_reply() -> None:
    tok = smollm2_tokenizer()
    rows = [PreferenceRow((("user", f"Q{i}?"),), f"Yes {i}.", f"No {i}.", f"f:{i}") for i in (1, 2)]
    out = PreferenceEncoder(tok, 128, None, 2, kto=True).encode(rows, EncodeStats())
    assert [e.desirable for e in out] == [True, False, True, False]
    assert tok.decode(out[0].replies[1]) == "Yes 2.<|im_end|>"  # the next prompt's reply
    assert len({e.uid for e in out}) == 4


# --- the reference model ----------------------------------------------------------------------


def tiny_batch(tok: Any) -> dict[str, torch.Tensor]:
    rows = [
        PreferenceRow((("user", "Hi there?"),), "Hello, friend.", "Leave.", "f:1"),
        PreferenceRow((("user", "Name a colour."),), "Blue.", "Seven.", "f:2"),
    ]
    enc = PreferenceEncoder(tok, 64, None, 2)
    return enc.collate(enc.encode(rows, EncodeStats()))


def tiny_llama(tok: Any) -> Any:
    """A one-layer Llama over the tokenizer's vocabulary, seeded, in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    return LlamaForCausalLM(cfg).eval()


def test_sequence_logps_are_the_reply_tokens_log_probabilities() -> None:
    tok = smollm2_tokenizer()
    net = tiny_llama(tok)
    batch = tiny_batch(tok)
    logps, counts = DPO().sequence_logps(net, batch)
    with torch.no_grad():
        for row in range(batch["input_ids"].size(0)):
            n = int(batch["attention_mask"][row].sum())
            ids = batch["input_ids"][row, :n]
            log_probs = net(input_ids=ids[None]).logits[0].log_softmax(-1)
            want = sum(
                float(log_probs[t - 1, ids[t]])
                for t in range(1, n)
                if batch["labels"][row, t] != IGNORE_INDEX
            )
            assert float(logps[row]) == pytest.approx(want, abs=1e-4)
            assert int(counts[row]) == int((batch["labels"][row] != IGNORE_INDEX).sum())


def test_adapter_off_reference_is_the_base_and_precomputed_matches_it() -> None:
    from peft import LoraConfig, get_peft_model

    from framework.training.reference import AdapterOff, Precomputed

    tok = smollm2_tokenizer()
    base = tiny_llama(tok)
    batch = tiny_batch(tok)
    objective = DPO()
    with torch.no_grad():
        base_logps = objective.sequence_logps(base, batch)[0]
    net = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    net.eval()
    with torch.no_grad():
        adapted = objective.sequence_logps(net, batch)[0]
    assert not torch.allclose(adapted, base_logps)  # the adapter changes the policy
    assert torch.allclose(AdapterOff(objective.sequence_logps)(net, batch), base_logps)
    table = Precomputed()
    rows = [
        PreferenceRow((("user", "Hi there?"),), "Hello, friend.", "Leave.", "f:1"),
        PreferenceRow((("user", "Name a colour."),), "Blue.", "Seven.", "f:2"),
    ]
    enc = PreferenceEncoder(tok, 64, None, 2)
    examples = enc.encode(rows, EncodeStats())
    with net.disable_adapter():
        table.fill(net, examples, enc.collate, objective.sequence_logps, 1, torch.device("cpu"))
    assert torch.allclose(table(net, batch), base_logps, atol=1e-5)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.preference.beta=0"], "task.preference.beta=0.0 is out of range"),
        (["task.preference.loss=ipo", "task=orpo"], "task.preference.loss='ipo' is not allowed"),
        (
            ["task.preference.loss=hinge", "task.preference.label_smoothing=0.1"],
            "label_smoothing=0.1 applies to loss=sigmoid only",
        ),
        (["method=full", "task.preference.reference=adapter_off"], "needs an adapter method"),
        (["task.preference.reference=copy"], "Did you mean"),
    ],
)
def test_preference_settings_are_checked(overrides: list[str], message: str) -> None:
    from framework.config.validate import preference_problems

    cfg = compose_config(["dataset=chatterbot_prefs", *overrides])
    assert any(message in p for p in preference_problems(cfg)), preference_problems(cfg)


def test_every_preference_task_composes_with_the_preset() -> None:
    from framework.config.validate import all_problems

    for task in ("dpo", "orpo", "kto", "simpo"):
        for method in ("lora", "full", "prefix"):
            cfg = compose_config(["dataset=chatterbot_prefs", f"task={task}", f"method={method}"])
            assert all_problems(cfg) == [], (task, method)
