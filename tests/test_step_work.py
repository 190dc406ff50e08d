"""The training step's work: LM head on labelled positions only, packed rows, optimizers."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from framework.data.render import IGNORE_INDEX
from framework.tasks.lm_head import labelled_token_nll, split_lm
from framework.tasks.objectives import Objective


def tiny(vocab: int = 64) -> torch.nn.Module:
    """A tiny random Llama (2 layers, hidden 64), in training mode with no dropout."""
    from framework.config.schema import RandomInitConfig
    from framework.models.loader import build_random_llama

    model = build_random_llama(RandomInitConfig(), vocab_size=vocab, seed=0)
    model.train()
    return model


def chat_batch(vocab: int = 64) -> dict[str, torch.Tensor]:
    """Three right-padded rows with masked prompts and padding (labels -100 there)."""
    gen = torch.Generator().manual_seed(0)
    lengths, prompts = (12, 7, 10), (5, 2, 6)
    ids = torch.zeros(3, 12, dtype=torch.long)
    labels = torch.full((3, 12), IGNORE_INDEX)
    mask = torch.zeros(3, 12, dtype=torch.long)
    for i, (n, p) in enumerate(zip(lengths, prompts, strict=True)):
        row = torch.randint(1, vocab, (n,), generator=gen)
        ids[i, :n], mask[i, :n] = row, 1
        labels[i, p:n] = row[p:]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def hf_loss_and_grads(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
    """The plain transformers forward loss (mean over labelled tokens) and its gradients."""
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), grads(model)


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def ours_loss_and_grads(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
    model.zero_grad()
    loss_sum, count = Objective().loss_sum(model, batch)
    (loss_sum / count).backward()
    return (loss_sum / count).detach(), grads(model)


def lora(model: torch.nn.Module) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    return get_peft_model(model, config)


def prompt_tuning(model: torch.nn.Module) -> torch.nn.Module:
    from peft import PromptTuningConfig, get_peft_model

    return get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3))


@pytest.mark.parametrize(("wrap", "split"), [(None, True), (lora, True), (prompt_tuning, False)])
def test_loss_on_labelled_positions_equals_the_full_forward_loss(wrap: Any, split: bool) -> None:
    """Same loss and gradients as transformers' own loss, full model or PEFT-wrapped; prompt
    methods take the full forward (no decoder/head split)."""
    model = tiny() if wrap is None else wrap(tiny())
    assert (split_lm(model) is not None) is split
    batch = chat_batch()
    want, want_grads = hf_loss_and_grads(model, batch)
    got, got_grads = ours_loss_and_grads(model, batch)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert want_grads.keys() == got_grads.keys() and want_grads
    for name, g in want_grads.items():
        assert torch.allclose(got_grads[name], g, atol=1e-6, rtol=1e-4), name


def test_labelled_token_nll_runs_the_head_on_labelled_positions_only() -> None:
    """The LM head sees one row per labelled target, not batch x length rows."""
    model = tiny()
    batch = chat_batch()
    seen: list[int] = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    nll, rows = labelled_token_nll(model, Objective().inputs(batch), batch["labels"])
    handle.remove()
    labelled = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert seen == [labelled] and nll.shape == (labelled,)
    assert rows.tolist() == sorted(rows.tolist()) and set(rows.tolist()) == {0, 1, 2}


def test_softcapped_head_matches_the_full_forward() -> None:
    """Gemma 2's final logit softcap is applied to the gathered logits too."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        final_logit_softcapping=3.0,
    )
    model = Gemma2ForCausalLM(config)
    split = split_lm(model)
    assert split is not None and split.softcap == 3.0
    batch = chat_batch()
    with torch.no_grad():
        want = model(**batch).loss
        loss_sum, count = Objective().loss_sum(model, batch)
    assert (loss_sum / count).item() == pytest.approx(want.item(), rel=1e-5)


def test_packed_loss_per_example_equals_the_unpacked_loss() -> None:
    """Packed rows (best fit, position ids, SDPA with the block-diagonal mask transformers
    builds from them): every labelled token's loss equals its loss unpacked, padded in a batch."""
    from framework.data.collate import pad_batch
    from framework.data.packing import pack
    from framework.data.render import Encoded

    model = tiny()
    assert model.config._attn_implementation == "sdpa"
    gen = torch.Generator().manual_seed(1)
    examples = []
    for n, prompt in ((9, 3), (5, 2), (7, 4), (11, 5), (4, 1)):
        ids = torch.randint(1, 64, (n,), generator=gen).tolist()
        examples.append(Encoded(ids, [IGNORE_INDEX] * prompt + ids[prompt:], False))
    packed = pack(examples, block=16)
    assert len(packed) == 3 and all(p.position_ids for p in packed)
    objective = Objective()
    with torch.no_grad():
        batch = pad_batch(packed, 0)
        nll, _ = labelled_token_nll(model, objective.inputs(batch), batch["labels"])
        alone = pad_batch(examples, 0)
        want_nll, _ = labelled_token_nll(model, objective.inputs(alone), alone["labels"])
    got = sorted(round(float(x), 4) for x in nll)
    want = sorted(round(float(x), 4) for x in want_nll)
    assert got == pytest.approx(want, abs=2e-4)
    assert float(nll.sum()) == pytest.approx(float(want_nll.sum()), rel=1e-5)
    assert batch["token_count"] == alone["token_count"] == 36
    assert batch["label_count"] == alone["label_count"] == 21 == len(nll)
