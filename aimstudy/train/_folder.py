"""Files of a trial's workdir: config.yaml, metrics.parquet, policy.parquet."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

# The long format of policy matrices, shared by the trainer, the MLflow artifacts and analysis.
POLICY_COLUMNS = ["matrix", "epoch", "task_i", "task_j", "value"]


def write_config(config_dict: dict[str, Any], workdir: Path) -> Path:
    """The resolved trial config as YAML (paths as strings)."""
    path = workdir / "config.yaml"
    text = yaml.safe_dump(_plain(config_dict), sort_keys=False)
    _write_text(path, text)
    return path


def write_metrics(history: list[dict[str, float]], workdir: Path) -> Path:
    """One row per epoch; columns `epoch` and the metric names."""
    path = workdir / "metrics.parquet"
    _write_frame(pd.DataFrame(history), path)
    return path


def policy_rows(
    epoch: int, matrices: dict[str, np.ndarray], task_names: list[str]
) -> list[dict[str, Any]]:
    """Long rows (matrix, epoch, task_i, task_j, value) of one epoch's [T, T] matrices."""
    return [
        {"matrix": name, "epoch": epoch, "task_i": ti, "task_j": tj, "value": float(m[i, j])}
        for name, m in matrices.items()
        for i, ti in enumerate(task_names)
        for j, tj in enumerate(task_names)
    ]


def write_policy(rows: list[dict[str, Any]], workdir: Path) -> Path:
    """policy.parquet in long format (an empty table with the columns when there is nothing)."""
    path = workdir / "policy.parquet"
    frame = pd.DataFrame(rows, columns=POLICY_COLUMNS).astype(
        {"matrix": "string", "epoch": "int64", "task_i": "string", "task_j": "string"}
    )
    _write_frame(frame, path)
    return path


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
