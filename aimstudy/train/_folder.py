"""A trial's folder (its workdir): the names of its files, their writers and readers.

`run_trial` writes it; the Tune trainable copies it into checkpoints and back; the MLflow
callback uploads it; a scheduler-stopped trial is finished from it. All of them name the files
through `TrialFolder`, so a file is renamed in one place.

```
<workdir>/
  config.yaml          the resolved TrialConfig
  metrics.parquet      one row per epoch: `epoch` and every metric
  policy.parquet       [T, T] matrices per epoch, long: matrix, epoch, task_i, task_j, value
  checkpoints/last.pt  everything needed to resume
  checkpoints/best.pt  the model of the best epoch
```
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.parquet"
POLICY_FILE = "policy.parquet"
LAST_CHECKPOINT = "checkpoints/last.pt"
BEST_CHECKPOINT = "checkpoints/best.pt"
# Every file of the folder, all of which a resumed trial needs back.
TRIAL_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, METRICS_FILE, POLICY_FILE, CONFIG_FILE)

# The long format of policy matrices, shared by the trainer, the MLflow artifacts and analysis.
POLICY_COLUMNS = ["matrix", "epoch", "task_i", "task_j", "value"]
_POLICY_DTYPES = {"matrix": "string", "epoch": "int64", "task_i": "string", "task_j": "string"}


@dataclass(frozen=True)
class TrialFolder:
    """The files of one trial's folder at `path` (which need not exist yet)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def last_checkpoint(self) -> Path:
        return self.path / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.path / BEST_CHECKPOINT

    def present(self) -> list[str]:
        """The relative names of the folder's files that exist, in `TRIAL_FILES` order."""
        return [rel for rel in TRIAL_FILES if (self.path / rel).is_file()]

    def write_config(self, config_dict: dict[str, Any]) -> Path:
        """The resolved trial config as YAML (paths as strings)."""
        path = self.path / CONFIG_FILE
        _write_text(path, yaml.safe_dump(_plain(config_dict), sort_keys=False))
        return path

    def write_metrics(self, history: list[dict[str, float]]) -> Path:
        """One row per epoch; columns `epoch` and the metric names."""
        path = self.path / METRICS_FILE
        _write_frame(pd.DataFrame(history), path)
        return path

    def write_policy(self, rows: list[dict[str, Any]]) -> Path:
        """policy.parquet in long format (an empty table with the columns when there is nothing)."""
        path = self.path / POLICY_FILE
        _write_frame(policy_table(rows), path)
        return path

    def read_history(self) -> list[dict[str, Any]]:
        """The rows of metrics.parquet (one per finished epoch); empty when there is none."""
        path = self.path / METRICS_FILE
        return pd.read_parquet(path).to_dict("records") if path.is_file() else []


def policy_rows(
    epoch: int, matrices: Mapping[str, np.ndarray], task_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Long rows (matrix, epoch, task_i, task_j, value) of one epoch's [T, T] matrices."""
    n = len(task_names)
    rows = []
    for name, values in matrices.items():
        m = np.asarray(values, dtype=float)  # [T, T]
        if m.shape != (n, n):
            raise ValueError(
                f"policy matrix {name!r} at epoch {epoch}: shape {m.shape}, "
                f"expected ({n}, {n}) for tasks {list(task_names)}"
            )
        rows += [
            {
                "matrix": name,
                "epoch": int(epoch),
                "task_i": task_names[i],
                "task_j": task_names[j],
                "value": float(v),
            }
            for (i, j), v in np.ndenumerate(m)
        ]
    return rows


def policy_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The long policy table of `policy_rows` rows, with fixed column types (also when empty)."""
    return pd.DataFrame(list(rows), columns=POLICY_COLUMNS).astype(_POLICY_DTYPES)


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """Make a config dict YAML-safe: paths to strings, tuples to lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
