"""What the driver records in MLflow around one launch: its parent run's params and spec, the
trials it closes itself (failed before or while running, stopped by the scheduler), the close.

Plain values in (a spec as a dict, a trial's option paths), so this layer never imports `tune`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from aimstudy.tracking._callback import MLflowCallback, log_metrics, upload_trial_folder
from aimstudy.tracking._names import (
    DESCRIPTION_TAG,
    GRID_PARAM,
    INTERRUPTED_TAG,
    MAX_PARAM_LENGTH,
    MAX_TAG_LENGTH,
    N_FAILED_TAG,
    N_TRIALS_PARAM,
    SEARCH_PARAM,
    STOPPED_BY_SCHEDULER,
    STOPPED_BY_TAG,
    STOPPED_EARLY_TAG,
    STUDY_ARTIFACT,
)
from aimstudy.tracking._params import flatten_params
from aimstudy.tracking._provenance import provenance_tags
from aimstudy.tracking._store import StudyRuns, close_running_children, find_trial_run, mark_failed
from aimstudy.train import TrialFolder, best_epoch, best_metrics

# Tags of a trial the scheduler (ASHA) stopped: finished, with what it trained so far.
SCHEDULER_STOP_TAGS = {STOPPED_BY_TAG: STOPPED_BY_SCHEDULER, STOPPED_EARLY_TAG: "True"}


def log_launch(
    uri: str, run_id: str, *, n_trials: int, search: str, grid: dict[str, Any], spec: dict
) -> None:
    """Study-level params, the resolved spec (`spec`, JSON-ready), provenance tags and the spec's
    description (on the parent run and its experiment, the note MLflow's UI shows) on a launch's
    parent run."""
    client = MlflowClient(uri)
    tags = provenance_tags(_asked_device(spec))
    description = str(spec.get("description") or "")[:MAX_TAG_LENGTH]
    if description:
        tags[DESCRIPTION_TAG] = description
        experiment_id = client.get_run(run_id).info.experiment_id
        client.set_experiment_tag(experiment_id, DESCRIPTION_TAG, description)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    client.log_param(run_id, N_TRIALS_PARAM, n_trials)
    client.log_param(run_id, SEARCH_PARAM, search)
    client.log_param(run_id, GRID_PARAM, json.dumps(grid)[:MAX_PARAM_LENGTH])
    client.log_text(run_id, yaml.safe_dump(spec, sort_keys=False), STUDY_ARTIFACT)


def _asked_device(spec: dict[str, Any]) -> str:
    """What the launch's trials are given (`resources.gpu`); each trial tags what it used."""
    gpu = (spec.get("resources") or {}).get("gpu") or 0
    return f"cuda ({gpu} GPU per trial)" if gpu else "cpu"


def log_tags(uri: str, run_id: str, tags: dict[str, str]) -> None:
    """Set `tags` on a run (the driver's facts about a launch, e.g. the SMILES it skipped)."""
    client = MlflowClient(uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def close_launch(runs: StudyRuns, status: str, n_failed: int = 0) -> None:
    """Close orphaned trial runs as KILLED, then the parent run with `status`."""
    close_running_children(runs, "KILLED")
    client = MlflowClient(runs.tracking_uri)
    client.set_tag(runs.parent_run_id, N_FAILED_TAG, str(n_failed))
    client.set_terminated(runs.parent_run_id, status=status)


def record_failed_trial(
    runs: StudyRuns, trial_id: str, *, study: str, options: dict[str, Any], reason: str
) -> None:
    """FAILED child run with the reason; created here (params = the trial's option paths
    `options`) if the trial died before opening one."""
    run = find_trial_run(runs, trial_id)
    if run is not None:
        if run.info.status != "FAILED":
            mark_failed(runs.tracking_uri, run.info.run_id, reason)
        return
    callback = MLflowCallback(runs, trial_id, study=study, run_name=f"{trial_id}-failed")
    callback.fail(reason)
    client = MlflowClient(runs.tracking_uri)
    for key, value in flatten_params(options).items():
        client.log_param(callback.run_id, key, value)


def mark_interrupted(runs: StudyRuns, trial_id: str, epoch: int | None) -> None:
    """Close the run of a trial that Ctrl-C stopped as KILLED, with the last epoch it reached.

    Inside the trial a stop by Ctrl-C looks like a stop by the scheduler, so its run may have
    been closed FINISHED and tagged as stopped by one; only the driver knows it was interrupted.
    A KILLED run is continued by `--resume`, a FINISHED one would be taken as done.
    """
    run = find_trial_run(runs, trial_id)
    if run is None:
        return
    client = MlflowClient(runs.tracking_uri)
    for tag in (STOPPED_BY_TAG, STOPPED_EARLY_TAG):  # written by a trial that took it for a stop
        if tag in run.data.tags:
            client.delete_tag(run.info.run_id, tag)
    if epoch is not None:
        client.set_tag(run.info.run_id, INTERRUPTED_TAG, str(epoch))
    client.set_terminated(run.info.run_id, status="KILLED")


def finish_stopped_trial(runs: StudyRuns, trial_id: str, folder: Path | None) -> None:
    """A trial Tune ended without error whose run is still RUNNING was stopped by the scheduler:
    finish its run from `folder` (its last checkpoint, a trial folder; None when it has none)."""
    run = find_trial_run(runs, trial_id)
    if run is None or run.info.status != "RUNNING":
        return
    finish_from_files(runs, run.info.run_id, folder, SCHEDULER_STOP_TAGS)


def finish_from_files(
    runs: StudyRuns, run_id: str, folder: Path | None, tags: dict[str, str]
) -> None:
    """Close a trial run FINISHED from a trial folder (e.g. its last Tune checkpoint): best/...
    metrics from its history, its files as artifacts, `tags`.

    For trials the scheduler stopped: their process is gone before any hook could run.
    """
    client = MlflowClient(runs.tracking_uri)
    if folder is not None:
        history = TrialFolder(folder).read_history()
        if history:
            tasks = [c.split("/", 2)[2] for c in history[0] if str(c).startswith("val/mae/")]
            method = client.get_run(run_id).data.params.get("method", "")
            metrics = best_metrics(history, best_epoch(history), tasks, method)
            log_metrics(client, run_id, metrics, step=int(history[-1]["epoch"]))
        upload_trial_folder(client, run_id, folder)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status="FINISHED")
