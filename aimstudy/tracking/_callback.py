"""`MLflowCallback`: records one trial as a child run of its study launch.

A trainer callback (no Ray here): the Ray trainable adds it to `run_trial`, and a bare
`run_trial` in a test can use it as well. A retried or resumed trial finds its child run by the
tag `aimstudy.trial_id` and continues it, so a trial never has two runs.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from aimstudy.tracking._artifacts import policy_frame, write_heatmap
from aimstudy.tracking._params import flatten_params
from aimstudy.tracking._store import (
    PARENT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    TRIAL_TAG,
    StudyRuns,
    find_trial_run,
    mark_failed,
)
from aimstudy.train import Callback, EpochReport, TrialResult

if TYPE_CHECKING:
    from aimstudy.data import Task
    from aimstudy.train import TrialConfig

# Workdir files of `run_trial` -> artifact folder in the run (docs/architecture.md layout).
_WORKDIR_ARTIFACTS = {
    "config.yaml": "",
    "metrics.parquet": "",
    "policy.parquet": "policy",
    "checkpoints/best.pt": "checkpoint",
}
_BATCH = 900  # MLflow accepts at most 1000 metrics and 100 params per log_batch call


class MLflowCallback(Callback):
    """Child run per trial: flattened params, per-epoch metrics (step=epoch), policy artifacts.

    `heatmap_epochs`: epochs whose matrices (tau, gate, cosine) are drawn as PNGs; the last
    epoch is always drawn at the end. `workdir`: the trial's folder, whose `config.yaml`,
    `metrics.parquet`, `policy.parquet` and `checkpoints/best.pt` are logged at the end.
    """

    def __init__(
        self,
        runs: StudyRuns,
        trial_id: str,
        *,
        study: str = "",
        run_name: str | None = None,
        heatmap_epochs: Iterable[int] = (),
        workdir: Path | None = None,
        extra_tags: dict[str, str] | None = None,
    ) -> None:
        self.runs = runs
        self.trial_id = trial_id
        self.study = study
        self.run_name = run_name or trial_id
        self.heatmap_epochs = set(int(e) for e in heatmap_epochs)
        self.workdir = workdir
        self.extra_tags = dict(extra_tags or {})
        self.client = MlflowClient(runs.tracking_uri)
        self.run_id: str | None = None
        self.resumed = False
        self._drawn: set[int] = set()
        self._policy_rows: list[tuple[int, str, np.ndarray]] = []
        self._last: EpochReport | None = None
        self.task_names: list[str] = []

    # -- run lifecycle -------------------------------------------------------------------------

    def open_run(self) -> str:
        """Create the child run, or reopen the one a previous attempt of this trial created."""
        if self.run_id is not None:
            return self.run_id
        existing = find_trial_run(self.runs, self.trial_id)
        tags = {"host": socket.gethostname(), "aimstudy.pid": str(os.getpid()), **self.extra_tags}
        if existing is not None:
            self.run_id = existing.info.run_id
            self.resumed = True
            attempts = int(existing.data.tags.get("aimstudy.attempts", "1")) + 1
            self.client.update_run(self.run_id, status="RUNNING")
            tags["aimstudy.attempts"] = str(attempts)
        else:
            run = self.client.create_run(
                self.runs.experiment_id,
                run_name=self.run_name,
                tags={
                    PARENT_TAG: self.runs.parent_run_id,
                    ROLE_TAG: "trial",
                    STUDY_TAG: self.study,
                    TRIAL_TAG: self.trial_id,
                    "aimstudy.attempts": "1",
                },
            )
            self.run_id = run.info.run_id
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)
        return self.run_id

    def fail(self, reason: str) -> None:
        """Close the run as FAILED with `reason` as the tag `aimstudy.error` (crash path)."""
        run_id = self.open_run()
        mark_failed(self.runs.tracking_uri, run_id, reason)

    # -- trainer hooks -------------------------------------------------------------------------

    def on_start(self, config: TrialConfig, tasks: list[Task]) -> None:
        """Open the run and log the flattened config as params (once: resumed runs have them)."""
        run_id = self.open_run()
        self.task_names = [t.name for t in tasks]
        resolved = config.model_dump(mode="json")
        if not self.resumed:
            params = [Param(k, v) for k, v in flatten_params(resolved).items()]
            for start in range(0, len(params), 100):
                self.client.log_batch(run_id, params=params[start : start + 100])
        self.client.log_text(run_id, yaml.safe_dump(resolved, sort_keys=False), "config.yaml")

    def on_epoch_end(self, report: EpochReport) -> None:
        """Log the epoch's metrics at step=epoch; keep its matrices; draw chosen heatmaps."""
        run_id = self.open_run()
        self._log_metrics(run_id, report.metrics, step=report.epoch)
        for name, values in report.matrices.items():
            self._policy_rows.append((report.epoch, name, np.asarray(values)))
        self._last = report
        if report.epoch in self.heatmap_epochs:
            self._draw(report)

    def on_end(self, result: TrialResult) -> None:
        """Final metrics, artifacts (config, metrics, policy Parquet, best checkpoint); FINISHED."""
        run_id = self.open_run()
        step = self._last.epoch if self._last is not None else result.best_epoch
        self._log_metrics(run_id, result.metrics, step=step)
        if self._last is not None and self._last.epoch not in self._drawn:
            self._draw(self._last)
        self._log_workdir(run_id, result.workdir or self.workdir, result.task_names)
        self.client.set_tag(run_id, "aimstudy.stopped_early", str(bool(result.stopped_early)))
        for key, value in self.extra_tags.items():
            self.client.set_tag(run_id, key, value)
        self.client.set_terminated(run_id, status="FINISHED")

    # -- helpers -------------------------------------------------------------------------------

    def _log_metrics(self, run_id: str, metrics: dict[str, Any], step: int) -> None:
        """Numeric metrics only (NaN kept: MLflow stores it), batched under MLflow's limit."""
        now = _now_ms()
        batch = [
            Metric(key, float(value), now, int(step))
            for key, value in metrics.items()
            if isinstance(value, int | float | np.floating | np.integer)
            and not math.isinf(float(value))
        ]
        for start in range(0, len(batch), _BATCH):
            self.client.log_batch(run_id, metrics=batch[start : start + _BATCH])

    def _draw(self, report: EpochReport) -> None:
        """Heatmap PNG per matrix of this epoch -> policy/heatmaps/{matrix}_epoch{e:04d}.png."""
        if not report.matrices:
            return
        run_id = self.open_run()
        with tempfile.TemporaryDirectory(prefix="aimstudy-heatmaps-") as tmp:
            for name, values in report.matrices.items():
                path = Path(tmp) / f"{name}_epoch{report.epoch:04d}.png"
                title = f"{name} (epoch {report.epoch})"
                write_heatmap(np.asarray(values), report.task_names, title, path)
            self.client.log_artifacts(run_id, tmp, "policy/heatmaps")
        self._drawn.add(report.epoch)

    def _log_workdir(self, run_id: str, workdir: Path | None, task_names: list[str]) -> None:
        """Upload the trial's files; without a workdir policy.parquet is written from memory."""
        logged_policy = False
        if workdir is not None:
            for rel, folder in _WORKDIR_ARTIFACTS.items():
                path = Path(workdir) / rel
                if path.is_file():
                    self.client.log_artifact(run_id, str(path), folder or None)
                    logged_policy |= rel == "policy.parquet"
        if not logged_policy and self._policy_rows:
            names = task_names or (self._last.task_names if self._last else [])
            with tempfile.TemporaryDirectory(prefix="aimstudy-policy-") as tmp:
                path = Path(tmp) / "policy.parquet"
                policy_frame(self._policy_rows, names).to_parquet(path, index=False)
                self.client.log_artifact(run_id, str(path), "policy")


def finish_from_files(runs: StudyRuns, run_id: str, folder: Path, tags: dict[str, str]) -> None:
    """Close a trial run FINISHED from a folder in the workdir layout (e.g. its last Tune
    checkpoint): best/... metrics from `metrics.parquet`, the workdir artifacts, `tags`.

    For trials the scheduler stopped: their process is gone before any hook could run.
    """
    import pandas as pd

    from aimstudy.train import best_metrics

    client = MlflowClient(runs.tracking_uri)
    folder = Path(folder)
    path = folder / "metrics.parquet"
    history = pd.read_parquet(path).to_dict("records") if path.is_file() else []
    if history:
        tasks = [c.split("/", 2)[2] for c in history[0] if str(c).startswith("val/mae/")]
        scored = [(h.get("val/norm_mae", math.inf), int(h["epoch"])) for h in history]
        finite = [s for s in scored if math.isfinite(s[0])]
        best_epoch = min(finite)[1] if finite else scored[-1][1]
        method = client.get_run(run_id).data.params.get("method", "")
        metrics = best_metrics(history, best_epoch, tasks, method)
        now, step = _now_ms(), int(history[-1]["epoch"])
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        for start in range(0, len(batch), _BATCH):
            client.log_batch(run_id, metrics=batch[start : start + _BATCH])
    for rel, target in _WORKDIR_ARTIFACTS.items():
        if (folder / rel).is_file():
            client.log_artifact(run_id, str(folder / rel), target or None)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status="FINISHED")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
