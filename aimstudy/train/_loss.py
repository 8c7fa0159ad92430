"""Masked per-task losses for sparse labels."""

from __future__ import annotations

import torch
from torch import Tensor


class NonFiniteLossError(RuntimeError):
    """A task's loss became NaN or infinite; the message names epoch, step and task."""


def masked_task_losses(
    pred: Tensor, target: Tensor, mask: Tensor, kind: str = "mse"
) -> tuple[Tensor, Tensor]:
    """Per-task mean loss over labelled entries only, and which tasks have a label.

    pred, target [B, T] standardized, mask [B, T] bool. Returns losses [T] (0 with a zero
    gradient for a task without labels in the batch) and present [T] bool.
    """
    err = pred - target  # [B, T]
    per = err.square() if kind == "mse" else err.abs()  # [B, T]
    m = mask.to(per.dtype)  # [B, T]
    count = m.sum(dim=0)  # [T]
    # where() instead of multiply: a NaN prediction on an unlabelled entry must not leak in.
    total = torch.where(mask, per, torch.zeros_like(per)).sum(dim=0)  # [T]
    losses = total / count.clamp(min=1.0)  # [T]
    return losses, count > 0


def check_finite(losses: Tensor, task_names: list[str], epoch: int, step: int) -> None:
    """Raise NonFiniteLossError naming the first task whose loss is not finite."""
    bad = (~torch.isfinite(losses.detach())).nonzero().flatten().tolist()
    if bad:
        names = ", ".join(task_names[i] for i in bad)
        raise NonFiniteLossError(
            f"non-finite loss at epoch {epoch}, step {step}, task {task_names[bad[0]]}"
            f" (all non-finite: {names})"
        )
