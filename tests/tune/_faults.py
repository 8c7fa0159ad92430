"""A trainer callback that crashes trials on purpose (imported by Ray workers in the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aimstudy.train import Callback, EpochReport


class Faults(Callback):
    """Logs every epoch a trial runs to `<log_dir>/<method>.log`, then crashes it on purpose.

    `once`: method -> epoch whose checkpoint is followed by one crash (the retry must resume
    after that epoch). `before_checkpoint`: method -> epoch that crashes once after its metrics
    went to MLflow but before Tune saved its checkpoint (the retry runs it again; MLflow must
    still hold it once). `always`: methods that crash in every attempt, after their first epoch.
    """

    def __init__(
        self,
        log_dir: Path,
        once: dict[str, int],
        always: set[str],
        before_checkpoint: dict[str, int] | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.once = dict(once)
        self.before_checkpoint = dict(before_checkpoint or {})
        self.always = set(always)
        self.method = ""

    def on_start(self, config: Any, tasks: Any) -> None:
        self.method = config.method

    def on_epoch_end(self, report: EpochReport) -> None:
        with open(self.log_dir / f"{self.method}.log", "a") as log:
            log.write(f"{report.epoch}\n")
        if self.method in self.always:
            raise RuntimeError(f"injected failure in {self.method}")
        marker = self.log_dir / f"{self.method}.crashed-before-checkpoint"
        if self.before_checkpoint.get(self.method) == report.epoch and not marker.exists():
            marker.touch()
            raise RuntimeError(f"injected crash of {self.method} in epoch {report.epoch}")

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        marker = self.log_dir / f"{self.method}.crashed"
        if self.once.get(self.method) == epoch and not marker.exists():
            marker.touch()
            raise RuntimeError(f"injected crash of {self.method} after epoch {epoch}")


def epochs_run(log_dir: Path, method: str) -> list[int]:
    """Epochs in the order the trial's attempts ran them."""
    path = Path(log_dir) / f"{method}.log"
    return [int(line) for line in path.read_text().split()] if path.exists() else []
