"""Evaluation: per-task MAE in report units, mean normalized MAE, Δm% against STL."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn


@torch.no_grad()
def absolute_errors(
    model: nn.Module, batches: Iterable[object], mean: Tensor, std: Tensor, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of |error| in training units and label count per task over all batches: [T], [T]."""
    model.eval()
    total = torch.zeros_like(mean, dtype=torch.float64)  # [T]
    count = torch.zeros_like(mean, dtype=torch.float64)  # [T]
    for batch in batches:
        batch = batch.to(device)
        pred = model(batch) * std + mean  # [B, T] in training units
        err = torch.where(batch.y_mask, (pred - batch.y).abs(), torch.zeros_like(pred))
        total += err.sum(dim=0).double()
        count += batch.y_mask.sum(dim=0).double()
    return total.cpu().numpy(), count.cpu().numpy()


def split_metrics(
    split: str,
    abs_sum: np.ndarray,
    count: np.ndarray,
    std: np.ndarray,
    task_names: Sequence[str],
    report_factors: Sequence[float],
) -> dict[str, float]:
    """`{split}/mae/{task}` in report units and `{split}/norm_mae` (mean of MAE / train std).

    A task without labels in the split gets NaN and is left out of the mean.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(count > 0, abs_sum / np.maximum(count, 1), np.nan)  # [T] training units
    out = {
        f"{split}/mae/{name}": float(m * f)
        for name, m, f in zip(task_names, mae, report_factors, strict=True)
    }
    norm = mae / std  # [T]
    out[f"{split}/norm_mae"] = float(np.nanmean(norm)) if np.isfinite(norm).any() else math.nan
    return out


def check_reference_tasks(reference: dict[str, float] | None, task_names: Sequence[str]) -> None:
    """`stl_reference` may only name tasks of the trial (checked before training, not at Δm)."""
    unknown = sorted(set(reference or {}) - set(task_names))
    if unknown:
        raise ValueError(f"stl_reference: unknown task(s) {unknown}; tasks are {list(task_names)}")


def delta_m(metrics: dict[str, float], reference: dict[str, float], prefix: str = "test") -> float:
    """Δm% = mean_t (MAE_t − MAE_t^STL) / MAE_t^STL × 100 over tasks in `reference` (lower is
    better). Raises ValueError when the reference names a task the metrics do not have."""
    missing = sorted(t for t in reference if f"{prefix}/mae/{t}" not in metrics)
    if missing:
        raise ValueError(f"stl_reference: unknown task(s) {missing}")
    rel = [(metrics[f"{prefix}/mae/{t}"] - r) / r for t, r in reference.items()]
    return float(np.mean(rel) * 100.0)
