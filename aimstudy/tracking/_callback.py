"""`MLflowCallback`: records one trial as a child run of its study launch.

A trainer callback (no Ray here): the Ray trainable adds it to `run_trial`, and a bare
`run_trial` in a test can use it as well. A retried or resumed trial finds its child run by the
tag `aimstudy.trial_id` and continues it, so a trial never has two runs.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from aimstudy.tracking._artifacts import render_heatmap
from aimstudy.tracking._model import log_trial_model
from aimstudy.tracking._names import (
    ATTEMPTS_TAG,
    CONFIG_ARTIFACT,
    HEATMAP_KEY,
    HOST_TAG,
    PARENT_TAG,
    PID_TAG,
    POLICY_DIR,
    ROLE_TAG,
    SKIPPED_COUNT_TAG,
    SKIPPED_FIRST_TAG,
    STOPPED_EARLY_TAG,
    STUDY_TAG,
    TASK_TABLE_ARTIFACT,
    TRIAL_ARTIFACTS,
    TRIAL_ROLE,
    TRIAL_TAG,
)
from aimstudy.tracking._params import flatten_params
from aimstudy.tracking._provenance import device_label, provenance_tags
from aimstudy.tracking._store import StudyRuns, find_trial_run, mark_failed
from aimstudy.train import (
    EPOCH,
    POLICY_FILE,
    Callback,
    EpochReport,
    TrialFolder,
    TrialResult,
    best_key,
    policy_rows,
    policy_table,
)

if TYPE_CHECKING:
    from aimstudy.data import Task
    from aimstudy.train import TrialConfig

_BATCH = 900  # MLflow accepts at most 1000 metrics and 100 params per log_batch call


class MLflowCallback(Callback):
    """Child run per trial: flattened params, provenance tags, per-epoch metrics (step=epoch),
    policy artifacts, a per-task results table at the end.

    `heatmap_epochs`: epochs whose matrices (tau, gate, cosine) are drawn, as one MLflow image
    series per matrix (key `policy/<matrix>`, step = epoch); the last epoch is always drawn.
    `workdir`: the trial's folder (`TrialFolder`), whose files are logged at the end
    (`TRIAL_ARTIFACTS`).
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
        self._policy_rows: list[dict[str, Any]] = []
        self._last: EpochReport | None = None
        self._logged_through = 0  # the last epoch an earlier attempt logged
        self.task_names: list[str] = []
        self.task_units: dict[str, str] = {}

    # -- run lifecycle -------------------------------------------------------------------------

    def open_run(self) -> str:
        """Create the child run, or reopen the one a previous attempt of this trial created."""
        if self.run_id is not None:
            return self.run_id
        existing = find_trial_run(self.runs, self.trial_id)
        tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), **self.extra_tags}
        if existing is not None:
            self.run_id = existing.info.run_id
            self.resumed = True
            attempts = int(existing.data.tags.get(ATTEMPTS_TAG, "1")) + 1
            self.client.update_run(self.run_id, status="RUNNING")
            tags[ATTEMPTS_TAG] = str(attempts)
            history = self.client.get_metric_history(self.run_id, EPOCH)
            self._logged_through = max((int(m.step) for m in history), default=0)
        else:
            run = self.client.create_run(
                self.runs.experiment_id,
                run_name=self.run_name,
                tags={
                    PARENT_TAG: self.runs.parent_run_id,
                    ROLE_TAG: TRIAL_ROLE,
                    STUDY_TAG: self.study,
                    TRIAL_TAG: self.trial_id,
                    ATTEMPTS_TAG: "1",
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
        """Open the run, tag what runs it (versions, commit, device) and log the flattened config
        as params (once: resumed runs have them)."""
        run_id = self.open_run()
        self.task_names = [t.name for t in tasks]
        self.task_units = {t.name: t.report_unit for t in tasks}
        tags = provenance_tags(device_label(config.device))
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        resolved = config.model_dump(mode="json")
        if not self.resumed:
            params = [Param(k, v) for k, v in flatten_params(resolved).items()]
            for start in range(0, len(params), 100):
                self.client.log_batch(run_id, params=params[start : start + 100])
        self.client.log_text(run_id, yaml.safe_dump(resolved, sort_keys=False), CONFIG_ARTIFACT)

    def on_data(self, n_skipped: int, skipped_smiles: list[str]) -> None:
        """The SMILES the trial's data skipped, as tags (the parent run has the study's)."""
        run_id = self.open_run()
        self.client.set_tag(run_id, SKIPPED_COUNT_TAG, str(n_skipped))
        self.client.set_tag(run_id, SKIPPED_FIRST_TAG, json.dumps(skipped_smiles))

    def on_epoch_end(self, report: EpochReport) -> None:
        """Log the epoch's metrics at step=epoch; keep its matrices; draw chosen heatmaps."""
        run_id = self.open_run()
        # A retry resumes from the last checkpoint Tune saved, which can be older than the last
        # epoch logged here: the epochs it runs again are the same (resumption is exact), so
        # they are logged once.
        if report.epoch > self._logged_through:
            log_metrics(self.client, run_id, report.metrics, step=report.epoch)
        self._policy_rows += policy_rows(report.epoch, report.matrices, report.task_names)
        self._last = report
        if report.epoch in self.heatmap_epochs:
            self._draw(report)

    def on_end(self, result: TrialResult) -> None:
        """Final metrics, the trial folder's artifacts (config.yaml went up at the start, once);
        FINISHED."""
        run_id = self.open_run()
        step = self._last.epoch if self._last is not None else result.best_epoch
        log_metrics(self.client, run_id, result.metrics, step=step)
        if self._last is not None and self._last.epoch not in self._drawn:
            self._draw(self._last)
        self._log_workdir(run_id, result.workdir or self.workdir)
        self._log_task_table(run_id, result)
        workdir, names = result.workdir or self.workdir, result.task_names
        log_trial_model(self.client, run_id, workdir, names, result.metrics, step)
        self.client.set_tag(run_id, STOPPED_EARLY_TAG, str(bool(result.stopped_early)))
        for key, value in self.extra_tags.items():
            self.client.set_tag(run_id, key, value)
        self.client.set_terminated(run_id, status="FINISHED")

    # -- helpers -------------------------------------------------------------------------------

    def _draw(self, report: EpochReport) -> None:
        """Each matrix of this epoch as a step of its image series (`policy/<matrix>`): the UI
        shows one heatmap per matrix with a slider over the drawn epochs."""
        if not report.matrices:
            return
        run_id = self.open_run()
        for name, values in report.matrices.items():
            title = f"{name} (epoch {report.epoch})"
            image = render_heatmap(np.asarray(values), report.task_names, title)
            key = HEATMAP_KEY.format(matrix=name)
            self.client.log_image(run_id, image, key=key, step=report.epoch)
        self._drawn.add(report.epoch)

    def _log_task_table(self, run_id: str, result: TrialResult) -> None:
        """One row per task: its unit and its val/test MAE at the best epoch (MLflow table)."""
        rows = [
            {
                "task": task,
                "unit": self.task_units.get(task, ""),
                "val_mae": result.metrics.get(best_key(f"val/mae/{task}"), math.nan),
                "test_mae": result.metrics.get(best_key(f"test/mae/{task}"), math.nan),
            }
            for task in result.task_names or self.task_names
        ]
        if rows:
            self.client.log_table(run_id, pd.DataFrame(rows), TASK_TABLE_ARTIFACT)

    def _log_workdir(self, run_id: str, workdir: Path | None) -> None:
        """Upload the trial's files; without a workdir policy.parquet is written from memory."""
        logged = upload_trial_folder(self.client, run_id, workdir) if workdir is not None else []
        if POLICY_FILE not in logged and self._policy_rows:
            with tempfile.TemporaryDirectory(prefix="aimstudy-policy-") as tmp:
                path = Path(tmp) / POLICY_FILE
                policy_table(self._policy_rows).to_parquet(path, index=False)
                self.client.log_artifact(run_id, str(path), POLICY_DIR)


def upload_trial_folder(client: MlflowClient, run_id: str, workdir: Path) -> list[str]:
    """Log the files of a trial folder that exist (`TRIAL_ARTIFACTS`); returns those logged."""
    present = [rel for rel in TrialFolder(workdir).present() if rel in TRIAL_ARTIFACTS]
    for rel in present:
        client.log_artifact(run_id, str(Path(workdir) / rel), TRIAL_ARTIFACTS[rel] or None)
    return present


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, Any], step: int) -> None:
    """Numeric metrics only (NaN kept: MLflow stores it), batched under MLflow's limit."""
    now = int(time.time() * 1000)
    batch = [
        Metric(key, float(value), now, int(step))
        for key, value in metrics.items()
        if isinstance(value, int | float | np.floating | np.integer)
        and not math.isinf(float(value))
    ]
    for start in range(0, len(batch), _BATCH):
        client.log_batch(run_id, metrics=batch[start : start + _BATCH])
