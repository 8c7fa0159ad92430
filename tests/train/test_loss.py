"""Masked per-task losses and the non-finite guard."""

from __future__ import annotations

import pytest
import torch

from aimstudy.train import NonFiniteLossError, masked_task_losses
from aimstudy.train._loss import check_finite


def test_mean_over_labelled_entries_only() -> None:
    pred = torch.tensor([[1.0, 0.0, 5.0], [3.0, 2.0, 7.0]], requires_grad=True)  # [B=2, T=3]
    target = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, False, False], [True, True, False]])
    losses, present = masked_task_losses(pred, target, mask, "mse")
    assert torch.allclose(losses, torch.tensor([(1 + 4) / 2, 4.0, 0.0]))
    assert present.tolist() == [True, True, False]
    l1, _ = masked_task_losses(pred, target, mask, "l1")
    assert torch.allclose(l1, torch.tensor([1.5, 2.0, 0.0]))
    losses[2].backward()  # a task without labels has a zero gradient
    assert float(pred.grad.abs().sum()) == 0.0


def test_nan_prediction_on_unlabelled_entry_does_not_leak() -> None:
    pred = torch.tensor([[float("nan"), 1.0]])
    losses, _ = masked_task_losses(pred, torch.zeros(1, 2), torch.tensor([[False, True]]))
    assert torch.isfinite(losses).all()


def test_guard_names_epoch_step_and_task() -> None:
    check_finite(torch.tensor([1.0, 2.0]), ["a", "b"], 1, 1)
    with pytest.raises(NonFiniteLossError, match="epoch 3, step 7, task b"):
        check_finite(torch.tensor([1.0, float("inf")]), ["a", "b"], 3, 7)
