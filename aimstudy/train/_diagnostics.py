"""Per-epoch means of the method's diagnostics (matrices, vectors, scalars)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class EpochDiagnostics:
    """Accumulates `method.backward` diagnostics over an epoch and returns their means.

    Non-finite entries (e.g. the cosine of a task absent from a batch) are left out of the mean
    of that entry, so a sparse task does not turn the whole matrix into NaN.
    """

    def __init__(self) -> None:
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, np.ndarray] = {}

    def add(self, diag: dict[str, object]) -> None:
        for key, value in diag.items():
            arr = _as_array(value)
            if arr is None:
                continue
            ok = np.isfinite(arr)
            if key not in self._sum or self._sum[key].shape != arr.shape:
                self._sum[key] = np.zeros(arr.shape)
                self._count[key] = np.zeros(arr.shape)
            self._sum[key] += np.where(ok, arr, 0.0)
            self._count[key] += ok

    def means(self) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                k: np.where(self._count[k] > 0, s / np.maximum(self._count[k], 1), np.nan)
                for k, s in self._sum.items()
            }


def _as_array(value: object) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().double().cpu().numpy()
    if isinstance(value, (int, float, np.ndarray, np.floating)) and not isinstance(value, bool):
        return np.asarray(value, dtype=np.float64)
    return None


def split_diagnostics(
    means: dict[str, np.ndarray], task_names: Sequence[str]
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Scalars -> `policy/{name}`, [T] vectors -> `policy/{name}/{task}`, [T, T] -> matrices."""
    metrics: dict[str, float] = {}
    matrices: dict[str, np.ndarray] = {}
    n = len(task_names)
    for key, arr in means.items():
        if arr.ndim == 0 or arr.size == 1:
            metrics[f"policy/{key}"] = float(arr.reshape(-1)[0])
        elif arr.shape == (n,):
            metrics.update(
                {f"policy/{key}/{t}": float(v) for t, v in zip(task_names, arr, strict=True)}
            )
        elif arr.shape == (n, n):
            matrices[key] = arr
    return metrics, matrices
