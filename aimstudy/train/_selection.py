"""Which epoch is best: the one rule, used by early stopping, the trial's `best/...` metrics and
every reader of a finished history (a trial the scheduler stopped, a folder read back later).

An epoch is compared on `SELECTION_METRIC` (lower is better). The first epoch is always the best
so far, even with a NaN value, so model selection always has a checkpoint; a later epoch is better
only when its value is finite and strictly lower (ties keep the earlier epoch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

SELECTION_METRIC = "val/norm_mae"
EPOCH = "epoch"  # the epoch number in every metrics row (1-based)
BEST_PREFIX = "best/"  # the metrics of the best epoch: `best/` + the epoch's key
BEST_EPOCH = BEST_PREFIX + EPOCH
SPLITS = ("train", "val", "test")
DELTA_M_METRIC = "test/delta_m"  # Δm% against the STL reference (with `stl_reference` only)
# The training loop's own per-epoch metrics, besides the per-split ones and the diagnostics.
TRAIN_LOSS, LR, EPOCH_SECONDS, EVAL_SECONDS = "train/loss", "lr", "time/epoch_s", "time/eval_s"
LOOP_METRICS = (TRAIN_LOSS, LR, EPOCH_SECONDS, EVAL_SECONDS)


def best_key(key: str) -> str:
    """The name a metric has at the best epoch: `val/norm_mae` -> `best/val/norm_mae`."""
    return BEST_PREFIX + key


def improves(value: float, best_value: float, best_epoch: int) -> bool:
    """True when an epoch scoring `value` replaces the best so far (`best_epoch` 0: none yet)."""
    if best_epoch == 0:
        return True
    return math.isfinite(value) and (not math.isfinite(best_value) or value < best_value)


def best_epoch(history: Iterable[Mapping[str, float]]) -> int:
    """The best epoch of a history (rows with `epoch` and `SELECTION_METRIC`); 0 when empty."""
    best_value, best = math.inf, 0
    for row in history:
        value = float(row.get(SELECTION_METRIC, math.nan))
        if improves(value, best_value, best):
            best_value, best = value, int(row[EPOCH])
    return best


def best_metrics(
    history: Sequence[Mapping[str, float]], best: int, task_names: Sequence[str], method: str
) -> dict[str, float]:
    """`best/...` metrics: the row of the best epoch; for `stl` each task's MAE is taken at that
    task's own best validation epoch (one model per task, each selected on its own)."""
    if not history or best == 0:
        return {}
    row = next(r for r in history if int(r[EPOCH]) == best)
    out = {BEST_EPOCH: float(best)}
    keys = [k for k in row if k.split("/")[0] in SPLITS]
    out.update({best_key(k): row[k] for k in keys})
    if method == "stl":
        for t in task_names:
            vals = [r.get(f"val/mae/{t}", math.nan) for r in history]
            if np.isfinite(vals).any():
                r = history[int(np.nanargmin(vals))]
                for split in SPLITS:
                    out[best_key(f"{split}/mae/{t}")] = r[f"{split}/mae/{t}"]
    return out
