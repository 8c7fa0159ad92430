"""One trial: the training loop, evaluation, early stopping, checkpoints and metrics.

No Ray and no MLflow here: a trial reports through `Callback`s.
"""

from __future__ import annotations

from aimstudy.train._callbacks import Callback, EpochReport, TrialResult
from aimstudy.train._checkpoint import CHECKPOINT_VERSION, REFERENCE_KEY, load_model
from aimstudy.train._checkpoint import load as load_checkpoint
from aimstudy.train._config import TrialConfig
from aimstudy.train._diagnostics import EpochDiagnostics, split_diagnostics
from aimstudy.train._dotted import leaves, parse_assignment, set_path
from aimstudy.train._errors import describe_error, loc_text
from aimstudy.train._folder import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    METRICS_FILE,
    POLICY_COLUMNS,
    POLICY_FILE,
    TRIAL_FILES,
    TrialFolder,
    policy_rows,
    policy_table,
)
from aimstudy.train._loss import NonFiniteLossError, masked_task_losses
from aimstudy.train._memory import HUGE_PAGES_ENV
from aimstudy.train._metrics import split_metrics
from aimstudy.train._reference import is_reference
from aimstudy.train._selection import (
    BEST_EPOCH,
    BEST_PREFIX,
    DELTA_M_METRIC,
    EPOCH,
    LOOP_METRICS,
    SELECTION_METRIC,
    SPLITS,
    best_epoch,
    best_key,
    best_metrics,
)
from aimstudy.train._trial import method_names, resolve_device, run_trial, validate_config

__all__ = [
    "BEST_CHECKPOINT",
    "BEST_EPOCH",
    "BEST_PREFIX",
    "CHECKPOINT_VERSION",
    "REFERENCE_KEY",
    "DELTA_M_METRIC",
    "EpochDiagnostics",
    "LOOP_METRICS",
    "SPLITS",
    "CONFIG_FILE",
    "EPOCH",
    "HUGE_PAGES_ENV",
    "METRICS_FILE",
    "Callback",
    "EpochReport",
    "NonFiniteLossError",
    "POLICY_COLUMNS",
    "POLICY_FILE",
    "SELECTION_METRIC",
    "TRIAL_FILES",
    "TrialConfig",
    "TrialFolder",
    "TrialResult",
    "best_epoch",
    "best_key",
    "best_metrics",
    "describe_error",
    "is_reference",
    "leaves",
    "load_checkpoint",
    "load_model",
    "loc_text",
    "masked_task_losses",
    "method_names",
    "parse_assignment",
    "policy_rows",
    "policy_table",
    "resolve_device",
    "run_trial",
    "set_path",
    "split_diagnostics",
    "split_metrics",
    "validate_config",
]
