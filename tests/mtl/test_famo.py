"""FAMO against a hand-written reference of the paper's update (Liu et al. 2023, Algorithm 2).

The reference writes every piece out: the model weights ``w_i = c·z_i/L_i``, the logit gradient
``δ = (diag(z) − z zᵀ)(log L_before − log L_after)`` of the *same* batch across the model step,
and Adam on ``δ + γ·ξ`` (the official code's ``Adam(weight_decay=γ)``), step by step.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from aimstudy.mtl import get
from aimstudy.testing import ToyProblem

EPS = 1e-8  # FAMO's stabiliser inside the logarithm


class ReferenceFAMO:
    """The paper's logit update with a hand-written Adam (β = 0.9, 0.999; ε = 1e-8)."""

    def __init__(self, n: int, lr: float = 0.025, gamma: float = 1e-3) -> None:
        self.xi = torch.zeros(n, dtype=torch.float64)
        self.m, self.v, self.t = torch.zeros(n), torch.zeros(n), 0
        self.lr, self.gamma = lr, gamma

    def weights(self, losses: Tensor) -> Tensor:
        """``w_i = c·z_i / L_i`` with ``c = (Σ_j z_j / L_j)⁻¹``: the model's task weights."""
        z = torch.softmax(self.xi, dim=0)
        ratio = z / (losses.double() + EPS)
        return ratio / ratio.sum()

    def update(self, before: Tensor, after: Tensor) -> None:
        z = torch.softmax(self.xi, dim=0)
        d = torch.log(before.double() + EPS) - torch.log(after.double() + EPS)
        delta = (torch.diag(z) - torch.outer(z, z)) @ d  # softmax Jacobian (symmetric) times d
        g = delta + self.gamma * self.xi
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * g
        self.v = 0.999 * self.v + 0.001 * g * g
        m_hat, v_hat = self.m / (1 - 0.9**self.t), self.v / (1 - 0.999**self.t)
        self.xi = self.xi - self.lr * m_hat / (v_hat.sqrt() + EPS)


def _batches(n_steps: int, n_tasks: int) -> list[tuple[Tensor, Tensor]]:
    """A different batch at every step, so 'the same batch' and 'the next batch' differ."""
    gen = torch.Generator().manual_seed(7)
    return [
        (torch.randn(16, 5, generator=gen), torch.randn(16, n_tasks, generator=gen) * (1 + t))
        for t in range(n_steps)
    ]


def _run(n_steps: int, same_batch: bool) -> tuple[list[Tensor], list[Tensor]]:
    """Our FAMO and the reference side by side; returns both weight sequences."""
    n = 3
    problem, ref = ToyProblem(n), ReferenceFAMO(n)
    method = get("famo", n)
    batches = _batches(n_steps + 1, n)
    ours, theirs = [], []
    for t in range(n_steps):
        x, y = batches[t]
        inputs = problem.inputs()
        inputs.losses = problem.losses(x, y)
        ours.append(method.backward(inputs)["weights"].double())
        theirs.append(ref.weights(inputs.losses.detach()))
        problem.sgd_step(0.05)
        with torch.no_grad():
            method.after_step(problem.losses(x, y))
            later = problem.losses(x, y) if same_batch else problem.losses(*batches[t + 1])
        ref.update(inputs.losses.detach(), later)
    return ours, theirs


def test_famo_weights_follow_the_papers_update_on_the_same_batch() -> None:
    ours, theirs = _run(6, same_batch=True)
    assert not torch.allclose(theirs[-1], theirs[0], atol=1e-3)  # the logits did move
    for w_ours, w_ref in zip(ours, theirs, strict=True):
        torch.testing.assert_close(w_ours, w_ref, rtol=1e-5, atol=1e-7)


def test_the_next_batch_update_is_not_the_papers() -> None:
    """The check above can fail: the one-step-late variant gives other weights."""
    ours, theirs = _run(6, same_batch=False)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-3, atol=1e-5)


def test_after_step_is_required_between_steps() -> None:
    problem, method = ToyProblem(3), get("famo", 3)
    method.backward(problem.inputs())
    with pytest.raises(ValueError, match="after_step.* was not called after the previous step"):
        method.backward(problem.inputs())
    with pytest.raises(ValueError, match="without a backward"):
        get("famo", 3).after_step(torch.ones(3))


def test_absent_task_enters_with_no_log_loss_change() -> None:
    """An absent task enters before and after the step with its last seen loss (1 at first)."""
    problem, method, ref = ToyProblem(3), get("famo", 3), ReferenceFAMO(3)
    present = torch.tensor([True, False, True])
    inputs = problem.inputs(present=present)  # the trainer's masked loss: 0 for task 1
    method.backward(inputs)
    problem.sgd_step()
    with torch.no_grad():
        after = problem.losses() * present
    method.after_step(after)
    ones = torch.ones(3)
    before = torch.where(present, inputs.losses.detach(), ones)
    ref.update(before, torch.where(present, after, ones))
    nxt = problem.inputs()
    weights = method.backward(nxt)["weights"].double()
    torch.testing.assert_close(weights, ref.weights(nxt.losses.detach()), rtol=1e-5, atol=1e-7)
