"""How a launch went: each trial's end as Tune saw it, the summary table, and closing in MLflow
the trial runs that no trial process could close itself."""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aimstudy.tracking import (
    StudyRuns,
    finish_stopped_trial,
    mark_interrupted,
    record_failed_trial,
)
from aimstudy.train import BEST_EPOCH, DELTA_M_METRIC, EPOCH, SELECTION_METRIC, best_key
from aimstudy.tune._spec import flat_assignment

SUMMARY_METRICS = (
    EPOCH,
    BEST_EPOCH,
    best_key(SELECTION_METRIC),
    best_key("test/norm_mae"),
    best_key(DELTA_M_METRIC),
)
# Statuses of the summary table: completed its schedule (early stopping and ASHA stops count),
# failed, or stopped by Ctrl-C before the end (`--resume` continues it).
OK, ERROR, INTERRUPTED = "OK", "ERROR", "INTERRUPTED"


@dataclass
class TrialEnd:
    """One trial at the end of a launch: its options, status, last metrics, error, checkpoint."""

    trial_id: str
    options: dict[str, Any]
    status: str
    metrics: dict[str, Any]
    error: str | None = None
    checkpoint: Any = None  # Tune's last checkpoint (a trial folder), if any

    @property
    def unfinished(self) -> bool:
        """Interrupted (Ctrl-C): its run is closed KILLED, --resume continues it."""
        return self.status == INTERRUPTED


@dataclass
class StudyOutcome:
    """Where a finished study is and how its trials went."""

    out_dir: Path
    tracking_uri: str
    runs: StudyRuns
    ray_path: Path | str  # a URI with remote storage
    table: pd.DataFrame
    n_failed: int
    optuna_storage: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    n_unfinished: int = 0

    def ui_command(self) -> str:
        """How to open the MLflow UI on this study's runs view: the server's link, or the
        command that serves the store and the link to open then (MLflow's default port)."""
        experiment = self.runs.experiment_id if self.runs is not None else ""
        runs_view = f"#/experiments/{experiment}/runs" if experiment else ""
        if self.tracking_uri.startswith(("http://", "https://")):
            return f"open {self.tracking_uri.rstrip('/')}/{runs_view} in a browser"
        serve = f"{_mlflow_executable()} ui --backend-store-uri {self.tracking_uri}"
        return f"{serve}, then open http://127.0.0.1:5000/{runs_view}"


def trial_ends(grid: Any, ray_path: Path | str) -> list[TrialEnd]:
    """Every trial of Tune's result grid, read only, with its status as the launch's saved
    experiment state (`ray_path`) has it: what `--resume` will continue."""
    statuses = _saved_statuses(ray_path)
    ends = []
    for result in grid:
        trial_id = _trial_id(result)
        status = statuses.get(trial_id, "TERMINATED")
        ends.append(
            TrialEnd(
                trial_id=trial_id,
                options=flat_assignment(result.config or {}),
                status=ERROR if result.error else (OK if status == "TERMINATED" else INTERRUPTED),
                metrics=dict(result.metrics or {}),
                error=_reason(result.error) if result.error else None,
                checkpoint=result.checkpoint,
            )
        )
    return ends


def summary_table(ends: list[TrialEnd]) -> pd.DataFrame:
    """One row per trial: id, options, status and the summary metrics it reported."""
    rows = []
    for end in ends:
        row: dict[str, Any] = {"trial": end.trial_id, **end.options, "status": end.status}
        row.update({k: end.metrics[k] for k in SUMMARY_METRICS if end.metrics.get(k) is not None})
        rows.append(row)
    return pd.DataFrame(rows)


def close_trial_runs(study: str, runs: StudyRuns, ends: list[TrialEnd]) -> None:
    """Record failed trials as FAILED runs, interrupted ones as KILLED, and finish those the
    scheduler stopped (ASHA), whose process was gone before it could (from their last
    checkpoint)."""
    for end in ends:
        if end.unfinished:
            epoch = end.metrics.get(EPOCH)
            mark_interrupted(runs, end.trial_id, int(epoch) if epoch is not None else None)
        elif end.error is not None:
            record_failed_trial(
                runs, end.trial_id, study=study, options=end.options, reason=end.error
            )
        elif end.status == OK and end.checkpoint is None:
            finish_stopped_trial(runs, end.trial_id, None)
        elif end.status == OK:
            with end.checkpoint.as_directory() as folder:
                finish_stopped_trial(runs, end.trial_id, Path(folder))


def format_table(table: pd.DataFrame) -> str:
    """The summary table as text, numbers rounded for reading."""
    if table.empty:
        return "(no trials)"
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if math.isnan(v) else f"{v:.4g}")
    return shown.to_string(index=False)


def _saved_statuses(ray_path: Path | str) -> dict[str, str]:
    """Tune's status of every trial in the launch's saved state (TERMINATED, ERROR, RUNNING,
    PENDING...). Not the result grid's: after Ctrl-C Tune stops the running trials and marks
    them TERMINATED in memory, but saved them as unfinished, so `--resume` continues them."""
    from ray.tune import ExperimentAnalysis

    try:
        trials = ExperimentAnalysis(str(ray_path)).trials
    except (OSError, ValueError):  # nothing saved (the launch died at once)
        return {}
    return {t.trial_id: t.status for t in trials}


def _trial_id(result: Any) -> str:
    metrics = result.metrics or {}
    if metrics.get("trial_id"):
        return str(metrics["trial_id"])
    return Path(result.path).name.split("_")[-3] if result.path else "?"


def _reason(error: BaseException) -> str:
    """The last line of a trial's error: what a user needs in a tag."""
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _mlflow_executable() -> str:
    """`mlflow` when it is on PATH, else the one beside this Python (an unactivated venv)."""
    beside = Path(sys.executable).parent / "mlflow"
    if shutil.which("mlflow") or not beside.exists():
        return "mlflow"
    return str(beside)
