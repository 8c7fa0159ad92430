"""MODEL of `aimstudy predict` and `aimstudy export`: where a trained model's `best.pt` is.

A trial folder (`checkpoints/best.pt`), a study folder (`study.json`: the best finished trial
of its current launch by a metric, read from MLflow), an MLflow model folder (`MLmodel`, as
`aimstudy export` writes) or an MLflow run (`runs:/RUN_ID`). Anything else is a ValueError in
one line naming MODEL.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.models.model import MLMODEL_FILE_NAME

from aimstudy.tracking import StudyRuns, child_runs, download_checkpoint, model_checkpoint
from aimstudy.train import BEST_PREFIX, TrialFolder, best_key
from aimstudy.tune import StudyFolder

RUNS_PREFIX = "runs:/"


@dataclass(frozen=True)
class ModelSource:
    """A resolved MODEL: its checkpoint (local) and a few words on where it came from."""

    checkpoint: Path
    description: str


@contextmanager
def open_model(
    model: str, *, metric: str, mode: str = "min", tracking_uri: str | None = None
) -> Iterator[ModelSource]:
    """The checkpoint of MODEL; one downloaded from MLflow lives until the block ends.

    `metric`/`mode` choose a study's trial; `tracking_uri` overrides the study's store, and is
    where a `runs:/` MODEL is looked up (default: $MLFLOW_TRACKING_URI).
    """
    with tempfile.TemporaryDirectory(prefix="aimstudy-model-") as tmp:
        if model.startswith(RUNS_PREFIX):
            yield _run_model(model, tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"), tmp)
        else:
            yield _path_model(Path(model), metric, mode, tracking_uri, Path(tmp))


def _path_model(
    path: Path, metric: str, mode: str, tracking_uri: str | None, tmp: Path
) -> ModelSource:
    if not path.exists():
        raise ValueError(f"MODEL {path}: no such file or folder")
    trial = TrialFolder(path)
    if trial.best_checkpoint.is_file():
        return ModelSource(trial.best_checkpoint, f"trial folder {path}")
    if (path / MLMODEL_FILE_NAME).is_file():
        return ModelSource(model_checkpoint(path), f"MLflow model {path}")
    study = StudyFolder(path.resolve())
    if study.state_file.is_file():
        return _study_model(study, metric, mode, tracking_uri, tmp)
    raise ValueError(
        f"MODEL {path}: not a trial folder (no checkpoints/best.pt), a study folder (no "
        f"study.json), an MLflow model (no {MLMODEL_FILE_NAME}) or an MLflow run (runs:/RUN_ID)"
    )


def _run_model(model: str, tracking_uri: str | None, tmp: str) -> ModelSource:
    run_id = model[len(RUNS_PREFIX) :].strip("/")
    if not run_id or "/" in run_id:
        raise ValueError(f"MODEL {model}: expected runs:/RUN_ID (a trial's run)")
    if not tracking_uri:
        raise ValueError(f"MODEL {model}: give --tracking-uri or set MLFLOW_TRACKING_URI")
    return ModelSource(download_checkpoint(tracking_uri, run_id, Path(tmp)), f"run {run_id}")


def _study_model(
    study: StudyFolder, metric: str, mode: str, tracking_uri: str | None, tmp: Path
) -> ModelSource:
    state = study.read_state() or {}
    uri = tracking_uri or state.get("tracking_uri")
    run, key, value = best_trial(study.path, state, uri, metric, mode)
    name = state.get("study", study.path.name)
    words = f"trial run {run.info.run_id} of study {name} ({key} {value:.6g}, {mode} of its launch)"
    return ModelSource(download_checkpoint(uri, run.info.run_id, tmp), words)


def best_trial(
    folder: Path, state: dict[str, Any], uri: str | None, metric: str, mode: str
) -> tuple[Run, str, float]:
    """(run, metric key, value) of the best finished trial of the folder's current launch.

    The metric is read at the trial's best epoch (`best/<metric>`) where it was logged so, else
    as given; ValueError naming the metric when no finished trial logged a finite value.
    """
    if not uri or not state.get("parent_run_id") or not state.get("experiment_id"):
        raise ValueError(f"MODEL {folder}: study.json names no MLflow launch")
    runs = StudyRuns(uri, str(state["experiment_id"]), str(state["parent_run_id"]))
    try:
        finished = [r for r in child_runs(runs) if r.info.status == "FINISHED"]
    except MlflowException as exc:
        reason = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise ValueError(f"MODEL {folder}: cannot read its runs in {uri} ({reason})") from None
    keys = [metric] if metric.startswith(BEST_PREFIX) else [best_key(metric), metric]
    scored = []
    for run in finished:
        key = next((k for k in keys if k in run.data.metrics), None)
        if key is not None and math.isfinite(run.data.metrics[key]):
            scored.append((run, key, run.data.metrics[key]))
    if not scored:
        logged = sorted({k for r in finished for k in r.data.metrics if k.startswith(BEST_PREFIX)})
        shown = ", ".join(logged[:8]) + (", ..." if len(logged) > 8 else "")
        raise ValueError(
            f"--metric {metric}: no finished trial of the study in {folder} logged it "
            f"({len(finished)} finished; their metrics: {shown or 'none'})"
        )
    pick = min if mode == "min" else max
    return pick(scored, key=lambda item: item[2])
