"""Read a study's MLflow runs into pandas: one row per run, then a tidy trial x task x split table.

The layout read here is the one `aimstudy.tracking` writes (docs/architecture.md): trial runs
carry the tag `aimstudy.role=trial`, the flattened trial config as dotted params, per-task
metrics `best/{split}/mae/{task}` and `best/epoch`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from aimstudy.tracking import PARENT_TAG, ROLE_TAG, STUDY_ROLE, TRIAL_ROLE, TRIAL_TAG
from aimstudy.train import BEST_EPOCH, BEST_PREFIX

__all__ = [
    "ROLE_TAG",
    "load_runs",
    "parent_runs",
    "results_table",
    "split_task_metrics",
    "write_results",
]

_BEST_MAE = re.compile(rf"^{re.escape(BEST_PREFIX)}(train|val|test)/mae/(.+)$")
_LAST_MAE = re.compile(r"^(train|val|test)/mae/(.+)$")
_RUN_COLUMNS = ["run_id", "parent_run_id", "trial_id", "role", "status", "start_time", "end_time"]


def param_value(value: str) -> Any:
    """MLflow params are strings: give back ints and floats where they parse, else the string."""
    for cast in (int, float):
        try:
            return cast(value)
        except (TypeError, ValueError):
            continue
    return value


def _run_row(run: Run) -> dict[str, Any]:
    """Flatten one MLflow run: identity, status, times, params (dotted) and latest metrics."""
    tags = run.data.tags
    info = run.info
    row: dict[str, Any] = {
        "run_id": info.run_id,
        "parent_run_id": tags.get(PARENT_TAG),
        "trial_id": tags.get(TRIAL_TAG),
        "role": tags.get(ROLE_TAG),
        "status": info.status,
        "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True) if info.end_time else pd.NaT,
        "wall_time_s": (info.end_time - info.start_time) / 1000.0
        if info.end_time
        else float("nan"),
    }
    row.update({f"param:{key}": param_value(value) for key, value in run.data.params.items()})
    row.update({f"metric:{key}": value for key, value in run.data.metrics.items()})
    return row


def _experiment_id(client: MlflowClient, experiment: str, tracking_uri: str) -> str:
    """The id of the named experiment; a one-line error listing what exists when it is absent."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ValueError(
            f"experiment {experiment!r} not found in {tracking_uri} (experiments there: {names})"
        )
    return found.experiment_id


def load_runs(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """All runs of a study's experiment, one row each.

    Columns: run_id, parent_run_id, trial_id, role (`study`/`trial`/None), status, start_time,
    end_time, wall_time_s, `param:<dotted key>` (typed) and `metric:<key>` (latest value).
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = _experiment_id(client, experiment, tracking_uri)
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        rows += [_run_row(run) for run in page]
        token = page.token
        if not token:
            break
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*_RUN_COLUMNS, "wall_time_s"])
    for column in [c for c in frame.columns if c.startswith("param:")]:
        frame[column] = _restore_ints(frame[column])
    return frame.sort_values("start_time", kind="stable").reset_index(drop=True)


def _restore_ints(column: pd.Series) -> pd.Series:
    """Integer params (n_train, seed) made float by runs lacking them: back to nullable Int64."""
    values = column.dropna()
    if (
        len(values)
        and pd.api.types.is_float_dtype(column)
        and values.map(float.is_integer).all()
        and (values.abs() < 2**53).all()
    ):
        return column.astype("Int64")
    return column


def parent_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The study launches (tag `aimstudy.role=study`), latest first."""
    if runs.empty:
        return runs
    parents = runs[runs["role"] == STUDY_ROLE]
    return parents.sort_values("start_time", ascending=False).reset_index(drop=True)


def _trial_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Trial runs: tagged as trials, or (older stores) any child run of a study launch."""
    if runs.empty:
        return runs
    is_trial = (runs["role"] == TRIAL_ROLE) | (runs["role"].isna() & runs["parent_run_id"].notna())
    return runs[is_trial]


def split_task_metrics(columns: list[str]) -> dict[str, tuple[str, str, str]]:
    """Map metric columns to (kind, split, task): kind `best` or `last` per-task MAE."""
    found: dict[str, tuple[str, str, str]] = {}
    for column in columns:
        if not column.startswith("metric:"):
            continue
        key = column[len("metric:") :]
        for kind, pattern in (("best", _BEST_MAE), ("last", _LAST_MAE)):
            match = pattern.match(key)
            if match:
                found[column] = (kind, match.group(1), match.group(2))
    return found


def _config_columns(trials: pd.DataFrame) -> list[str]:
    """Param columns renamed to their dotted config keys, in a stable order."""
    return sorted(c for c in trials.columns if c.startswith("param:"))


def results_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Tidy results: one row per trial x task x split.

    Columns: run_id, trial_id, parent_run_id, status, the config keys (`method`, `n_train`,
    `seed`, ...), task, split, mae (best epoch; the last logged value when the trial never
    finished, `mae_source` says which), best_epoch, wall_time_s, epoch_time_s.
    A trial that logged no per-task metric at all still gets one row (task and split empty),
    so failed trials stay visible.
    """
    trials = _trial_runs(runs)
    config = _config_columns(trials)
    task_metrics = split_task_metrics(list(trials.columns))
    records: list[dict[str, Any]] = []
    for _, run in trials.iterrows():
        base = {
            "run_id": run["run_id"],
            "trial_id": run["trial_id"],
            "parent_run_id": run["parent_run_id"],
            "status": run["status"],
            **{c[len("param:") :]: run[c] for c in config},
            "best_epoch": run.get(f"metric:{BEST_EPOCH}", float("nan")),
            "wall_time_s": run["wall_time_s"],
            "epoch_time_s": run.get("metric:time/epoch_s", float("nan")),
            "delta_m_logged": run.get("metric:best/test/delta_m", float("nan")),
        }
        values: dict[tuple[str, str], tuple[float, str]] = {}
        for column, (kind, split, task) in task_metrics.items():
            value = run[column]
            if pd.isna(value):
                continue
            if kind == "best" or (split, task) not in values:
                values[(split, task)] = (float(value), kind)
        if not values:
            records.append({**base, "task": None, "split": None, "mae": float("nan")})
        for (split, task), (value, kind) in sorted(values.items()):
            records.append({**base, "task": task, "split": split, "mae": value, "mae_source": kind})
    return _order_columns(pd.DataFrame(records))


def _order_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Put identity, the usual config keys and the result columns first."""
    first = ["run_id", "trial_id", "status", "method", "n_train", "seed", "task", "split", "mae"]
    ordered = [c for c in first if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def write_results(table: pd.DataFrame, path: Path) -> Path:
    """Write the tidy table to Parquet (object columns of mixed types become strings)."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            kinds = {type(v) for v in out[column].dropna()}
            if len(kinds) > 1:
                out[column] = out[column].map(lambda v: None if pd.isna(v) else str(v))
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(path, index=False)
    return path
