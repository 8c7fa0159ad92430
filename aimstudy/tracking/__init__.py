"""MLflow tracking of studies: the run hierarchy, the trial callback, artifact writers.

Layout (docs/architecture.md): one experiment per study, one parent run per launch, one child run
per trial (tags `mlflow.parentRunId`, `aimstudy.role`, `aimstudy.trial_id`), params = the
flattened trial config, metrics per epoch, Parquet and PNG policy artifacts. No Ray here.
"""

from __future__ import annotations

from aimstudy.tracking._artifacts import policy_frame, write_heatmap
from aimstudy.tracking._callback import MLflowCallback, finish_from_files
from aimstudy.tracking._params import flatten_params
from aimstudy.tracking._store import (
    ERROR_TAG,
    PARENT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    TRIAL_TAG,
    StudyRuns,
    check_tracking_uri,
    child_runs,
    close_running_children,
    default_tracking_uri,
    find_trial_run,
    is_local_store,
    mark_failed,
    open_experiment,
    reopen_run,
    start_parent_run,
)

__all__ = [
    "ERROR_TAG",
    "PARENT_TAG",
    "ROLE_TAG",
    "STUDY_TAG",
    "TRIAL_TAG",
    "MLflowCallback",
    "StudyRuns",
    "check_tracking_uri",
    "child_runs",
    "close_running_children",
    "default_tracking_uri",
    "find_trial_run",
    "finish_from_files",
    "flatten_params",
    "is_local_store",
    "mark_failed",
    "open_experiment",
    "policy_frame",
    "reopen_run",
    "start_parent_run",
    "write_heatmap",
]
