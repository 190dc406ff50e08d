"""Model-family conformance: every family's chat template, masks, EOS, targets and training.

Per family (tests/family_kit.py): a tiny random model from the real transformers config
class, a tokenizer with the family's published template and special tokens.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import torch

from framework.data.render import IGNORE_INDEX, chat_examples, encode_pieces, render_prompt
from framework.data.rows import ChatRow
from framework.models.architectures import target_modules_for
from framework.training.eos_check import check_chat_template_eos
from tests.family_kit import FAMILIES, Family, family_model, family_tokenizer

# long: every family trains, reloads, merges and exports: minutes (kept out of make test-fast)
pytestmark = pytest.mark.e2e

NAMES = sorted(FAMILIES)
SYSTEM = "Be brief."
ONE = ChatRow((("user", "Hi there"), ("assistant", "Hello! How can I help?")), "rows.jsonl:1")
TWO = ChatRow(
    (
        ("user", "Hi there"),
        ("assistant", "Hello! How can I help?"),
        ("user", "Name a colour."),
        ("assistant", "Blue."),
    ),
    "rows.jsonl:2",
)


@functools.cache
def tokenizer(name: str) -> Any:
    return family_tokenizer(FAMILIES[name])


@functools.cache
def model(name: str) -> torch.nn.Module:
    return family_model(FAMILIES[name], tokenizer(name))


def _ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def expected_examples(family: Family, tok: Any, row: ChatRow, system: str | None) -> list[Any]:
    """The expected (input_ids, labels) per trained turn, built from inference renders only:
    before turn k, exactly tok(render_prompt(conversation so far)); then the reply plus the
    family's end-of-turn marker, trained."""
    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    out = []
    for role, content in row.messages:
        if role == "assistant":
            prompt = _ids(tok, render_prompt(tok, history))
            reply = content.strip() if family.template in ("llama3", "gemma") else content
            answer = _ids(tok, reply + family.end_of_turn)
            out.append((prompt + answer, [IGNORE_INDEX] * len(prompt) + answer))
        history.append({"role": role, "content": content})
    return out


def trained_turns(row: ChatRow, tok: Any, system: str | None, train_on: str = "all") -> list[Any]:
    """(tokens before, trained tokens) for each trained run of every example of the row."""
    out = []
    for pieces in chat_examples(row, tok, system, train_on):
        enc = encode_pieces(pieces, 4096, train_on_prompt=False)
        i = 0
        while i < len(enc.labels):
            if enc.labels[i] == IGNORE_INDEX:
                i += 1
                continue
            j = i
            while j < len(enc.labels) and enc.labels[j] != IGNORE_INDEX:
                j += 1
            out.append((enc.input_ids[:i], enc.input_ids[i:j]))
            i = j
    return out


@pytest.mark.parametrize("system", [None, SYSTEM])
@pytest.mark.parametrize("name", NAMES)
def test_loss_mask_and_prompt_match_inference(name: str, system: str | None) -> None:
    """Every trained turn sits after exactly the inference prompt, and is reply + end marker."""
    family, tok = FAMILIES[name], tokenizer(name)
    for row in (ONE, TWO):
        got = trained_turns(row, tok, system)
        want = expected_examples(family, tok, row, system)
        assert len(got) == len(want), f"{name}: {len(got)} trained turns, expected {len(want)}"
        for (before, trained), (ids, labels) in zip(got, want, strict=True):
            start = labels.index(next(t for t in labels if t != IGNORE_INDEX))
            assert before == ids[:start], f"{name}: training prompt != inference prompt"
            assert trained == ids[start:], (
                f"{name}: trained {tok.decode(trained)!r}, expected {tok.decode(ids[start:])!r}"
            )
    # one example per row when the template's renders extend each other at the token level
    whole = chat_examples(TWO, tok, system)
    assert tok.decode(whole[-1][-1][0]).endswith(family.end_of_turn)


@pytest.mark.parametrize("name", NAMES)
def test_last_turn_trains_only_the_final_reply(name: str) -> None:
    tok = tokenizer(name)
    turns = trained_turns(TWO, tok, None, train_on="last_turn")
    assert len(turns) == 1
    assert tok.decode(turns[0][1]).startswith("Blue.")
    assert turns[0][0] == _ids(
        tok, render_prompt(tok, [{"role": r, "content": c} for r, c in TWO.messages[:3]])
    )


def test_phi3_one_turn_text_is_prompt_answer_end() -> None:
    """Issue 14: Phi-3 one-turn training text == inference prompt + answer + <|end|>."""
    tok = tokenizer("phi3_mini")
    (pieces,) = chat_examples(ONE, tok, None)
    text = tok.decode([t for ids, _ in pieces for t in ids])
    prompt = render_prompt(tok, [{"role": "user", "content": "Hi there"}])
    assert text == prompt + "Hello! How can I help?<|end|>"
    assert "<|endoftext|>" not in text


@pytest.mark.parametrize("name", NAMES)
def test_eos_check_passes_and_fails_on_a_broken_template(name: str) -> None:
    family, tok = FAMILIES[name], tokenizer(name)
    check = check_chat_template_eos(tok, model(name), SYSTEM)
    assert check.ok, f"{name}: {check.detail}"
    broken = copy.deepcopy(tok)
    template = str(tok.chat_template)
    if family.end_of_turn in template:
        broken.chat_template = template.replace(family.end_of_turn, "<|unk_end|>")
    else:  # Mistral writes the EOS through the eos_token variable
        broken.chat_template = template.replace("+ eos_token", "+ '<|unk_end|>'")
    assert broken.chat_template != tok.chat_template
    broken.add_special_tokens({"additional_special_tokens": ["<|unk_end|>"]})
    assert not check_chat_template_eos(broken, model(name), SYSTEM).ok


def _targets(family: Family) -> tuple[str, ...]:
    return target_modules_for(family.architecture, [], "linear")


def _resolved(peft_model: Any, kind: str) -> set[str]:
    return {n.split(".")[-1] for n, m in peft_model.named_modules() if hasattr(m, kind)}


@pytest.mark.parametrize("name", NAMES)
def test_lora_dora_qlora_targets_resolve(name: str) -> None:
    from peft import LoraConfig, get_peft_model

    from framework.models.quantization import QuantizationSpec, quantize_in_memory

    family = FAMILIES[name]
    targets = set(_targets(family))
    modules = {n.split(".")[-1] for n, _ in model(name).named_modules()}
    assert targets <= modules, f"{name}: {targets - modules} are not modules of the model"
    if family.architecture == "phi3":
        assert {"qkv_proj", "gate_up_proj"} <= targets
    for dora in (False, True):
        peft_model = get_peft_model(
            copy.deepcopy(model(name)), LoraConfig(r=4, target_modules=list(targets), use_dora=dora)
        )
        assert _resolved(peft_model, "lora_A") == targets
    quantized = quantize_in_memory(copy.deepcopy(model(name)), QuantizationSpec(bits=4))
    q = get_peft_model(quantized, LoraConfig(r=4, target_modules=list(targets)))
    assert _resolved(q, "lora_A") == targets


def _batch(name: str) -> dict[str, torch.Tensor]:
    tok = tokenizer(name)
    rows = [chat_examples(r, tok, SYSTEM)[-1] for r in (ONE, TWO)]
    encs = [encode_pieces(p, 256, False) for p in rows]
    from framework.data.encoders import pad_batch

    return pad_batch(encs, int(tok.pad_token_id))


def _loss(m: Any, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        return float(m(**batch).loss)


@functools.cache
def trained_lora(name: str) -> tuple[Any, dict[str, torch.Tensor], float, float]:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(
        copy.deepcopy(model(name)),
        LoraConfig(r=8, lora_alpha=16, target_modules=list(_targets(FAMILIES[name]))),
    )
    batch = _batch(name)
    before = _loss(peft_model.eval(), batch)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model.train()
    for _ in range(6):
        opt.zero_grad()
        peft_model(**batch).loss.backward()
        opt.step()
    return peft_model.eval(), batch, before, _loss(peft_model.eval(), batch)


@pytest.mark.parametrize("name", NAMES)
def test_loss_falls_reload_exact_merge_parity(name: str, tmp_path: Path) -> None:
    from peft import PeftModel

    peft_model, batch, before, after = trained_lora(name)
    assert after < before - 0.05, f"{name}: loss {before:.3f} -> {after:.3f}"
    with torch.no_grad():
        logits = peft_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    reloaded = PeftModel.from_pretrained(
        copy.deepcopy(model(name)), str(tmp_path / "adapter")
    ).eval()
    with torch.no_grad():
        again = reloaded(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
        merged = copy.deepcopy(peft_model).merge_and_unload()
        folded = merged(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(logits, again), f"{name}: reload differs"
    assert torch.allclose(logits, folded, atol=1e-4), (
        f"{name}: merge parity {(logits - folded).abs().max()}"
    )


@pytest.mark.parametrize("name", [n for n in NAMES if FAMILIES[n].onnx])
def test_onnx_export_parity(name: str, tmp_path: Path) -> None:
    from framework.export.onnx import OnnxLogits, export_onnx

    peft_model, batch, _, _ = trained_lora(name)
    merged = copy.deepcopy(peft_model).merge_and_unload().eval()
    path = export_onnx(merged, tmp_path, opset=18)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        want = merged(input_ids=ids, attention_mask=mask).logits
    got = OnnxLogits(path)(ids, mask)
    keep = mask.bool()
    assert (got[keep] - want[keep]).abs().max() < 1e-3


def test_family_features_are_kept() -> None:
    assert model("qwen25").model.layers[0].self_attn.q_proj.bias is not None
    gemma = model("gemma2").config
    assert gemma.final_logit_softcapping and gemma.attn_logit_softcapping
    assert model("gemma2").lm_head.weight is model("gemma2").model.embed_tokens.weight
    assert hasattr(model("phi3_mini").model.layers[0].self_attn, "qkv_proj")
    assert model("phi3_mini_128k").config.rope_parameters["rope_type"] == "longrope"
