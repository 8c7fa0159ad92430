"""MLflow tracking of studies: the run hierarchy, the trial callback, artifact writers.

Layout (docs/architecture.md): one experiment per study, one parent run per launch, one child run
per trial (tags `mlflow.parentRunId`, `aimstudy.role`, `aimstudy.trial_id`), params = the
flattened trial config, metrics per epoch, Parquet and PNG policy artifacts. No Ray here.
"""

from __future__ import annotations

from aimstudy.tracking._artifacts import policy_frame, write_heatmap
from aimstudy.tracking._callback import MLflowCallback
from aimstudy.tracking._launch import (
    close_launch,
    finish_from_files,
    finish_stopped_trial,
    log_launch,
    record_failed_trial,
)
from aimstudy.tracking._names import (
    CONFIG_ARTIFACT,
    ERROR_TAG,
    GRID_PARAM,
    MLFLOW_DB,
    NODE_TAG,
    PARENT_TAG,
    POLICY_ARTIFACT,
    RAY_TRIAL_TAG,
    REPORT_DIR,
    ROLE_TAG,
    RUN_NAME_TAG,
    STOPPED_BY_SCHEDULER,
    STOPPED_BY_TAG,
    STUDY_ARTIFACT,
    STUDY_ROLE,
    STUDY_TAG,
    TRIAL_ROLE,
    TRIAL_TAG,
)
from aimstudy.tracking._params import flatten_params
from aimstudy.tracking._store import (
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
    sqlite_uri,
    start_parent_run,
)

__all__ = [
    "CONFIG_ARTIFACT",
    "ERROR_TAG",
    "GRID_PARAM",
    "MLFLOW_DB",
    "NODE_TAG",
    "PARENT_TAG",
    "POLICY_ARTIFACT",
    "RAY_TRIAL_TAG",
    "REPORT_DIR",
    "ROLE_TAG",
    "RUN_NAME_TAG",
    "STOPPED_BY_SCHEDULER",
    "STOPPED_BY_TAG",
    "STUDY_ARTIFACT",
    "STUDY_ROLE",
    "STUDY_TAG",
    "TRIAL_ROLE",
    "TRIAL_TAG",
    "MLflowCallback",
    "StudyRuns",
    "annotations",
    "check_tracking_uri",
    "child_runs",
    "close_launch",
    "close_running_children",
    "default_tracking_uri",
    "find_trial_run",
    "finish_from_files",
    "finish_stopped_trial",
    "flatten_params",
    "is_local_store",
    "log_launch",
    "mark_failed",
    "open_experiment",
    "policy_frame",
    "record_failed_trial",
    "reopen_run",
    "sqlite_uri",
    "start_parent_run",
    "write_heatmap",
]
