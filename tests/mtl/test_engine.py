"""The task-gradient engine: all engines agree with plain autograd, absent tasks cost nothing."""

from __future__ import annotations

import pytest
import torch

from aimstudy.mtl import ENGINES, get, task_gradients
from aimstudy.testing import ToyProblem


def _reference(problem: ToyProblem, targets: list[torch.Tensor]) -> torch.Tensor:
    losses = problem.losses()
    rows = []
    for t in range(problem.n_tasks):
        grads = torch.autograd.grad(losses[t], targets, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)  # [T, d]


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_with_autograd(engine: str) -> None:
    problem = ToyProblem(4)
    losses = problem.losses()
    present = torch.ones(4, dtype=torch.bool)
    G, heads = task_gradients(
        losses, present, problem.shared_params(), problem.head_params(), engine
    )
    torch.testing.assert_close(G, _reference(problem, problem.shared_params()))
    own = torch.autograd.grad(losses.sum(), problem.head_params())
    for got, want in zip(heads, own, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("engine", ENGINES)
def test_absent_tasks_give_zero_rows(engine: str) -> None:
    problem = ToyProblem(4)
    present = torch.tensor([True, False, True, False])
    G, _ = task_gradients(problem.losses(), present, problem.shared_params(), (), engine)
    ref = _reference(problem, problem.shared_params())
    torch.testing.assert_close(G[present], ref[present])
    assert torch.count_nonzero(G[~present]) == 0


def test_gradients_at_the_representation() -> None:
    problem = ToyProblem(3)
    losses = problem.losses()
    z = problem.z  # [B, 8]
    G, _ = task_gradients(losses, torch.ones(3, dtype=torch.bool), [z])
    assert G.shape == (3, z.numel())
    ref = torch.stack([torch.autograd.grad(x, z, retain_graph=True)[0].reshape(-1) for x in losses])
    torch.testing.assert_close(G, ref)


def test_representation_update_is_the_weighted_loss_gradient() -> None:
    """With grad_at='representation' the encoder gets one backward of Σ w_i L_i."""
    problem = ToyProblem(3)
    diag = get("upgrad", 3, grad_at="representation").backward(problem.inputs())
    losses = problem.losses()
    grads = torch.autograd.grad((diag["weights"] * losses).sum(), problem.shared_params())
    torch.testing.assert_close(problem.shared_grad(), torch.cat([g.reshape(-1) for g in grads]))


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"engine must be one of \['loop', 'torchjd', 'batched'\]"):
        get("pcgrad", 3, engine="vmap")
