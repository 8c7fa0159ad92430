"""`TrialModel`: a trial's best checkpoint as an MLflow `pyfunc` model, and its writers.

The model takes a DataFrame with a `smiles` column and returns what `aimstudy predict` writes
for it: `smiles` (MLflow passes on only the columns of the model's signature), one column per
task in the units of the trial's reported metrics, and `error` (why a row has no prediction).
`best.pt` is its only artifact, so loading it needs aimstudy installed (as `mlflow models serve
--env-manager local` has it) and no dataset.

Each trial logs one at its end (`log_trial_model`, from `MLflowCallback.on_end`) as a logged
model named `model` of its run (`runs:/<run id>/model`); `save_trial_model` writes the same
folder locally (`aimstudy export`).
"""

from __future__ import annotations

import importlib.metadata
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import mlflow.artifacts
import pandas as pd
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from aimstudy import __version__
from aimstudy.predict import DEFAULT_SMILES_COLUMN, ERROR_COLUMN, load_predictor, predict_table
from aimstudy.tracking._names import CHECKPOINT_DIR
from aimstudy.train import BEST_CHECKPOINT, BEST_PREFIX, TrialFolder

MODEL_NAME = "model"  # the logged model of a trial run: runs:/<run id>/model
CHECKPOINT_KEY = "checkpoint"  # the pyfunc artifact holding best.pt
CHECKPOINT_ARTIFACT = f"{CHECKPOINT_DIR}/{Path(BEST_CHECKPOINT).name}"  # on the trial run
_MODEL_CODE = Path(__file__).with_name("_model_code.py")  # the model's code, as MLflow wants it
# Pinned so MLflow need not load the model in a subprocess to infer them (seconds per trial).
_REQUIREMENTS = ("torch", "torch-geometric", "rdkit", "pandas", "scikit-learn")


class TrialModel(mlflow.pyfunc.PythonModel):
    """A trial's best model: DataFrame with `smiles` -> `smiles`, a column per task, `error`."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.predictor = load_predictor(context.artifacts[CHECKPOINT_KEY])

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        return predict_table(self.predictor, model_input, DEFAULT_SMILES_COLUMN)


def model_signature(task_names: Sequence[str]) -> ModelSignature:
    """Input: a string `smiles` column; output: a double column per task and `error`."""
    inputs = Schema([ColSpec("string", DEFAULT_SMILES_COLUMN)])
    outputs = [ColSpec("double", name) for name in task_names]
    outputs.append(ColSpec("string", ERROR_COLUMN, required=False))
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def save_trial_model(
    checkpoint: Path, path: Path, task_names: Sequence[str], mlflow_model: Model | None = None
) -> Path:
    """Write the MLflow model folder of a best checkpoint at `path` (which must not exist)."""
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=str(_MODEL_CODE),
        artifacts={CHECKPOINT_KEY: str(checkpoint)},
        signature=model_signature(task_names),
        input_example=pd.DataFrame({DEFAULT_SMILES_COLUMN: ["CCO"]}),
        pip_requirements=_requirements(),
        mlflow_model=mlflow_model,
    )
    return Path(path)


def log_trial_model(
    client: MlflowClient,
    run_id: str,
    workdir: Path | None,
    task_names: Sequence[str],
    metrics: Mapping[str, Any],
    step: int,
) -> str | None:
    """Log the best checkpoint of `workdir` as the run's logged model `model`, with the run's
    params and its `best/...` metrics; returns the model id (None: no best.pt to log).

    Through the explicit client (MLflow's fluent `log_model` would need the process-wide
    tracking URI and active run).
    """
    checkpoint = TrialFolder(workdir).best_checkpoint if workdir is not None else None
    if checkpoint is None or not checkpoint.is_file():
        return None
    run = client.get_run(run_id)
    done = _logged_model(client, run.info.experiment_id, run_id)
    if done is not None:  # an earlier attempt's, of the same best.pt (resumption is exact)
        return done
    model = client.create_logged_model(
        run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id, params=run.data.params
    )
    try:
        with tempfile.TemporaryDirectory(prefix="aimstudy-model-") as tmp:
            spec = Model(
                artifact_path=model.artifact_location,
                run_id=run_id,
                model_uuid=model.model_id,
                model_id=model.model_id,
            )
            local = save_trial_model(checkpoint, Path(tmp) / MODEL_NAME, task_names, spec)
            client.log_model_artifacts(model.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])
        _link_metrics(client, run_id, model.model_id, metrics, step)
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return model.model_id


def _logged_model(client: MlflowClient, experiment_id: str, run_id: str) -> str | None:
    """The id of the run's READY logged model `model`, if it has one."""
    found = client.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL_NAME}'"
    )  # (a filter on status finds nothing in MLflow 3.17's SQL store)
    ready = [m.model_id for m in found if m.status == LoggedModelStatus.READY]
    return ready[0] if ready else None


def _link_metrics(
    client: MlflowClient, run_id: str, model_id: str, metrics: Mapping[str, Any], step: int
) -> None:
    """The trial's `best/...` metrics on the logged model too, so the models list shows them."""
    now = int(time.time() * 1000)
    best = [
        Metric(key, float(value), now, step, model_id=model_id)
        for key, value in metrics.items()
        if key.startswith(BEST_PREFIX) and isinstance(value, int | float) and not math.isinf(value)
    ]
    for start in range(0, len(best), 900):  # MLflow takes 1000 metrics per call
        client.log_batch(run_id, metrics=best[start : start + 900])


def download_checkpoint(tracking_uri: str, run_id: str, dst: Path) -> Path:
    """The best.pt of a trial run, downloaded into `dst`; ValueError when the run has none."""
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=CHECKPOINT_ARTIFACT,
            dst_path=str(dst),
            tracking_uri=tracking_uri,
        )
    except (MlflowException, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"run {run_id} in {tracking_uri}: no {CHECKPOINT_ARTIFACT} artifact ({reason})"
        ) from None
    return Path(local)


def model_checkpoint(path: Path) -> Path:
    """The best.pt inside a model folder `save_trial_model` wrote; ValueError for another."""
    try:
        flavor = Model.load(str(path)).flavors.get("python_function", {})
    except (MlflowException, OSError, ValueError) as exc:
        raise ValueError(f"MODEL {path}: unreadable MLflow model ({exc})") from None
    rel = (flavor.get("artifacts") or {}).get(CHECKPOINT_KEY, {}).get("path")
    if not rel or not (Path(path) / rel).is_file():
        raise ValueError(f"MODEL {path}: an MLflow model without an aimstudy checkpoint")
    return Path(path) / rel


def _requirements() -> list[str]:
    """aimstudy and the libraries its predictions depend on, at the versions installed."""
    pins = [f"aimstudy=={__version__}"]
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins
