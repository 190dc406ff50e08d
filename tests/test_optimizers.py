"""The optimizers behind optim=: AdamW's multi-tensor loop gives the plain loop's update, and the
8-bit AdamW keeps its state in 8 bits and still learns, on the CPU."""

from __future__ import annotations

import torch

from framework.training.optim import OptimizerSpec, adamw_kernel, build_optimizer


def spec(name: str) -> OptimizerSpec:
    return OptimizerSpec(name, 0.01, 0.01, (0.9, 0.999), 1e-8, 0.0, "constant", 0, 10)


def regression(seed: int = 0) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(256, 64)
    x = torch.randn(32, 256)
    return model, x, x @ torch.randn(256, 64) * 0.1


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
          y: torch.Tensor, steps: int) -> list[float]:  # fmt: skip
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_adamw_on_the_cpu_is_the_foreach_loop_with_the_plain_loops_update() -> None:
    ours_model, x, y = regression()
    plain_model, _, _ = regression()
    ours = build_optimizer(ours_model.parameters(), spec("adamw"))
    assert ours.defaults["foreach"] is True
    assert adamw_kernel([{"params": list(ours_model.parameters())}]) == {"foreach": True}
    plain = torch.optim.AdamW(plain_model.parameters(), lr=0.01, weight_decay=0.01, foreach=False)
    train(ours_model, ours, x, y, 5)
    train(plain_model, plain, x, y, 5)
    for a, b in zip(ours_model.parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_adamw_8bit_keeps_8_bit_state_and_learns_on_the_cpu() -> None:
    model, x, y = regression()
    optimizer = build_optimizer(model.parameters(), spec("adamw_8bit"))
    assert type(optimizer).__name__ == "AdamW8bit"
    losses = train(model, optimizer, x, y, 20)
    assert losses[-1] < 0.5 * losses[0], losses
    state = optimizer.state[model.weight]
    assert state["state1"].dtype == torch.uint8 and state["state2"].dtype == torch.uint8
    fp32_bytes = 2 * model.weight.numel() * 4
    assert state["state1"].numel() + state["state2"].numel() <= fp32_bytes / 4
