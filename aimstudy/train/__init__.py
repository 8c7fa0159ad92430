"""One trial: the training loop, evaluation, early stopping, checkpoints and metrics.

No Ray and no MLflow here: a trial reports through `Callback`s.
"""

from __future__ import annotations

from aimstudy.train._callbacks import Callback, EpochReport, TrialResult
from aimstudy.train._config import TrialConfig
from aimstudy.train._loss import NonFiniteLossError, masked_task_losses
from aimstudy.train._memory import HUGE_PAGES_ENV
from aimstudy.train._trial import best_metrics, resolve_device, run_trial, validate_config
from aimstudy.train._writers import POLICY_COLUMNS

__all__ = [
    "HUGE_PAGES_ENV",
    "Callback",
    "EpochReport",
    "NonFiniteLossError",
    "POLICY_COLUMNS",
    "TrialConfig",
    "TrialResult",
    "best_metrics",
    "masked_task_losses",
    "resolve_device",
    "run_trial",
    "validate_config",
]
