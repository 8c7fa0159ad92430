"""How a trial reports: a small callback interface plus the records it hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aimstudy.data import Task
    from aimstudy.train._config import TrialConfig


@dataclass
class EpochReport:
    """What one finished epoch produced: flat metrics and [T, T] epoch means of the matrices."""

    epoch: int
    metrics: dict[str, float]
    matrices: dict[str, np.ndarray]
    task_names: list[str]


@dataclass
class TrialResult:
    """The outcome of a trial: best epoch, final (best/...) metrics, per-epoch history, workdir."""

    best_epoch: int
    metrics: dict[str, float]
    history: list[dict[str, float]]
    workdir: Path
    task_names: list[str] = field(default_factory=list)
    stopped_early: bool = False


class Callback:
    """Hooks a trial calls; all optional no-ops, so a subclass overrides only what it needs."""

    def on_start(self, config: TrialConfig, tasks: list[Task]) -> None:
        """Once, after the data are ready and before the first (or resumed) epoch."""

    def on_data(self, n_skipped: int, skipped_smiles: list[str]) -> None:
        """Once, after `on_start`: how many molecules the data could not use, the first few."""

    def on_step_end(self, epoch: int, step: int, n_steps: int) -> None:
        """After each optimisation step (progress bars)."""

    def on_epoch_end(self, report: EpochReport) -> None:
        """After each epoch's evaluation."""

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        """After `checkpoints/last.pt` for `epoch` has been written."""

    def on_end(self, result: TrialResult) -> None:
        """Once, when the trial finished (epochs done or stopped early)."""


def notify(callbacks: list[Any], hook: str, *args: Any) -> None:
    """Call `hook` on every callback that has it (duck typing: subclassing is optional)."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)
