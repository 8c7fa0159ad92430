"""Build small synthetic studies with the real MLflow API, in the layout aimstudy.tracking writes.

Used by the analysis tests and the notebook test: an experiment named after the study, one
parent run (`aimstudy.role=study`), one child run per trial with dotted params, per-epoch and
`best/*` metrics and a `policy/policy.parquet` artifact.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

TASKS = ["mu", "alpha", "U0", "U"]
METHODS = ["stl", "ls", "aim-matrix"]
SIZES = [100, 1000]
SEEDS = [0, 1, 2]
_EFFECT = {"stl": 1.0, "ls": 1.05, "pcgrad": 1.02, "aim-matrix": 0.9, "aim-scalar": 0.95}
PEAK_EARLY = ("ls",)  # methods whose best epoch is before their last (the others peak at it)


def _mae(task: int, method: str, n_train: int, seed: int, rng: np.random.Generator) -> float:
    """A plausible MAE: falls with n_train, scaled by the method's effect, seed noise."""
    base = (1.0 + task) * (n_train / 100.0) ** -0.3
    return float(base * _EFFECT.get(method, 1.0) * (1.0 + 0.03 * rng.standard_normal()))


def _policy(tasks: list[str], epochs: int, method: str, seed: int) -> pd.DataFrame:
    """Long policy table: a cosine matrix for every method, τ and gate for AIM."""
    rng = np.random.default_rng(100 + seed)
    n = len(tasks)
    block = np.zeros((n, n))
    block[2:, 2:] = 0.6  # the two energies agree
    rows = []
    for epoch in range(1, epochs + 1):
        cos = np.clip(block - 0.2 + 0.05 * rng.standard_normal((n, n)), -1, 1)
        np.fill_diagonal(cos, 1.0)
        mats = {"cosine": cos}
        if method.startswith("aim"):
            tau = -block * epoch / epochs + 0.02 * rng.standard_normal((n, n))
            mats["tau"] = tau
            mats["gate"] = 1.0 / (1.0 + np.exp(-10.0 * (tau - cos)))
        for name, mat in mats.items():
            for i, j in itertools.product(range(n), range(n)):
                rows.append((name, epoch, tasks[i], tasks[j], float(mat[i, j])))
    return pd.DataFrame(rows, columns=["matrix", "epoch", "task_i", "task_j", "value"])


def _log_trial(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    trial: dict,
    tasks: list[str],
    epochs: int,
    rng: np.random.Generator,
    peak_early: tuple[str, ...] = PEAK_EARLY,
) -> str:
    """One child run with params, per-epoch and best metrics, policy artifact; returns run id.
    Finished trials of `peak_early` methods log their best epoch 2 before the last."""
    method, n_train, seed = trial["method"], trial["n_train"], trial["seed"]
    run = client.create_run(
        experiment_id,
        run_name=f"{method}-{n_train}-{seed}",
        tags={
            "mlflow.parentRunId": parent_id,
            "aimstudy.role": "trial",
            "aimstudy.trial_id": trial["trial_id"],
        },
    )
    run_id = run.info.run_id
    params = {
        "method": method,
        "n_train": n_train,
        "seed": seed,
        "dataset.name": "qm9",
        "epochs": epochs,
        "method_options.lambda_m": 0.01 if method.startswith("aim") else None,
    }
    now = int(time.time() * 1000)
    metrics = []
    final = {t: _mae(k, method, n_train, seed, rng) for k, t in enumerate(tasks)}
    n_epochs = epochs if trial["status"] == "FINISHED" else max(1, epochs // 2)
    for epoch in range(1, n_epochs + 1):
        for split in ("train", "val", "test"):
            for task, value in final.items():
                decay = 1.0 + 0.5 * (epochs - epoch) / epochs
                metrics.append(Metric(f"{split}/mae/{task}", value * decay, now, epoch))
        metrics.append(Metric("time/epoch_s", 0.5, now, epoch))
        metrics.append(Metric("epoch", float(epoch), now, epoch))  # as the trainer logs it
    if trial["status"] == "FINISHED":
        best_epoch = max(1, epochs - 2) if method in peak_early else epochs
        metrics.append(Metric("best/epoch", best_epoch, now, 0))
        for split in ("train", "val", "test"):
            metrics += [Metric(f"best/{split}/mae/{t}", v, now, 0) for t, v in final.items()]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)) for k, v in params.items() if v is not None],
        tags=[RunTag("mlflow.runName", run.info.run_name)],
    )
    if trial["status"] == "FINISHED":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "policy.parquet"
            _policy(tasks, epochs, method, seed).to_parquet(path, index=False)
            client.log_artifact(run_id, str(path), "policy")
    client.set_terminated(run_id, status=trial["status"])
    return run_id


def make_study(
    folder: Path,
    name: str = "synthetic",
    methods: list[str] = METHODS,
    sizes: list[int] = SIZES,
    seeds: list[int] = SEEDS,
    tasks: list[str] = TASKS,
    epochs: int = 6,
    failed: int = 1,
    missing_seed: int | None = 3,
    optuna_trials: int = 0,
    peak_early: tuple[str, ...] = PEAK_EARLY,
) -> dict[str, str]:
    """Write a study folder as `aimstudy run` leaves it (mlflow.db, artifacts/, study.json,
    maybe optuna.db; the grid as the parent run's `grid` param) plus the spec `<name>.yaml`
    beside the folder, and return the parent run id and tracking URI.

    The last `failed` trials are logged as FAILED half-way; `missing_seed` is in the spec's grid
    but never run, so the report must list its cells as missing. Finished trials of `peak_early`
    methods have their best epoch before the last; the others peak at their last epoch.
    """
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri)
    existing = client.get_experiment_by_name(name)  # a second launch into the same study
    experiment_id = (
        existing.experiment_id
        if existing
        else client.create_experiment(name, artifact_location=(folder / "artifacts").as_uri())
    )
    parent = client.create_run(
        experiment_id, run_name=name, tags={"aimstudy.role": "study", "aimstudy.study": name}
    )
    rng = np.random.default_rng(0)
    cells = list(itertools.product(methods, sizes, seeds))
    ids = {"parent": parent.info.run_id, "uri": uri}
    for k, (method, n_train, seed) in enumerate(cells):
        status = "FAILED" if k >= len(cells) - failed else "FINISHED"
        trial = {
            "method": method,
            "n_train": n_train,
            "seed": seed,
            "trial_id": f"t{k:03d}",
            "status": status,
        }
        _log_trial(client, experiment_id, parent.info.run_id, trial, tasks, epochs, rng, peak_early)
    grid_seeds = [*seeds, missing_seed] if missing_seed is not None else seeds
    grid = {"method": methods, "n_train": sizes, "seed": grid_seeds}
    client.log_param(parent.info.run_id, "grid", json.dumps(grid))  # as `aimstudy run` does
    client.set_terminated(parent.info.run_id, status="FINISHED")
    state = {"study": name, "tracking_uri": uri, "parent_run_id": parent.info.run_id}
    (folder / "study.json").write_text(json.dumps(state))
    spec = {"name": name, "dataset": {"name": "qm9"}, "grid": grid, "output": str(folder)}
    (folder.parent / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    if optuna_trials:
        _optuna(folder, name, optuna_trials)
    return ids


def _optuna(folder: Path, name: str, n_trials: int) -> None:
    """A small two-objective Optuna study in `optuna.db`, like a multi-metric search leaves."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=["minimize"] * 2,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        lm = trial.suggest_float("lambda_m", 1e-4, 1e-2, log=True)
        lp = trial.suggest_categorical("lambda_p", [0.0, 0.08, 0.8])
        return (np.log10(lm) + 3) ** 2 + lp, (lp - 0.08) ** 2 + 0.1 * lm

    study.optimize(objective, n_trials=n_trials)
