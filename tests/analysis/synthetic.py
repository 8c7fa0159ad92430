"""Build small synthetic studies through the writers `aimstudy run` uses, without training.

Used by the analysis tests and the notebook test: the study folder (`tune.StudyFolder`), the
experiment and a launch (`tracking`), one child run per trial through `tracking.MLflowCallback`
fed made-up epochs, so a writer and a reader cannot drift apart unnoticed.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from unittest import mock

import numpy as np
import optuna
import yaml
from PIL import Image

from aimstudy.data import DataConfig
from aimstudy.tracking import (
    MLflowCallback,
    StudyRuns,
    _callback,
    close_launch,
    log_launch,
    open_experiment,
    start_parent_run,
)
from aimstudy.train import BEST_EPOCH, EPOCH, EpochReport, TrialConfig, TrialResult, best_key
from aimstudy.tune import StudyFolder, StudySpec

SPLITS = ("train", "val", "test")

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


def _matrices(n_tasks: int, epochs: int, method: str, seed: int) -> list[dict[str, np.ndarray]]:
    """Each epoch's [T, T] matrices: a cosine matrix for every method, τ and gate for AIM."""
    rng = np.random.default_rng(100 + seed)
    n = n_tasks
    block = np.zeros((n, n))
    block[2:, 2:] = 0.6  # the two energies agree
    out = []
    for epoch in range(1, epochs + 1):
        cos = np.clip(block - 0.2 + 0.05 * rng.standard_normal((n, n)), -1, 1)
        np.fill_diagonal(cos, 1.0)
        mats = {"cosine": cos}
        if method.startswith("aim"):
            tau = -block * epoch / epochs + 0.02 * rng.standard_normal((n, n))
            mats["tau"] = tau
            mats["gate"] = 1.0 / (1.0 + np.exp(-10.0 * (tau - cos)))
        out.append(mats)
    return out


def _log_trial(
    runs: StudyRuns,
    study: str,
    trial: dict,
    tasks: list[str],
    epochs: int,
    rng: np.random.Generator,
    peak_early: tuple[str, ...] = PEAK_EARLY,
) -> str:
    """One child run through the trial callback: params, per-epoch and best metrics, the policy
    artifact; returns its run id. Finished trials of `peak_early` methods log their best epoch
    2 before the last; failed trials stop half-way."""
    method, n_train, seed = trial["method"], trial["n_train"], trial["seed"]
    config = TrialConfig(
        dataset=DataConfig(name="qm9"),
        method=method,
        method_options={"lambda_m": 0.01} if method.startswith("aim") else {},
        n_train=n_train,
        seed=seed,
        epochs=epochs,
    )
    callback = MLflowCallback(
        runs, trial["trial_id"], study=study, run_name=f"{method}-{n_train}-{seed}"
    )
    callback.on_start(config, [])
    final = {t: _mae(k, method, n_train, seed, rng) for k, t in enumerate(tasks)}
    finished = trial["status"] == "FINISHED"
    n_epochs = epochs if finished else max(1, epochs // 2)
    matrices = _matrices(len(tasks), epochs, method, seed)
    for epoch in range(1, n_epochs + 1):
        decay = 1.0 + 0.5 * (epochs - epoch) / epochs
        metrics = {
            f"{split}/mae/{task}": value * decay
            for split in SPLITS
            for task, value in final.items()
        }
        metrics.update({"time/epoch_s": 0.5, EPOCH: float(epoch)})
        callback.on_epoch_end(EpochReport(epoch, metrics, matrices[epoch - 1], tasks))
    if not finished:
        callback.fail("RuntimeError: synthetic failure")
        return str(callback.run_id)
    best_epoch = max(1, epochs - 2) if method in peak_early else epochs
    best = {BEST_EPOCH: float(best_epoch)}
    best.update({best_key(f"{s}/mae/{t}"): v for s in SPLITS for t, v in final.items()})
    callback.on_end(TrialResult(best_epoch, best, [], None, tasks))
    return str(callback.run_id)


def _log_trials(
    runs: StudyRuns,
    study: str,
    cells: list[tuple[str, int, int]],
    failed: int,
    tasks: list[str],
    epochs: int,
    rng: np.random.Generator,
    peak_early: tuple[str, ...],
) -> None:
    """One trial per (method, n_train, seed) cell; the last `failed` of them fail."""
    for k, (method, n_train, seed) in enumerate(cells):
        status = "FAILED" if k >= len(cells) - failed else "FINISHED"
        trial = {
            "method": method,
            "n_train": n_train,
            "seed": seed,
            "trial_id": f"t{k:03d}",
            "status": status,
        }
        _log_trial(runs, study, trial, tasks, epochs, rng, peak_early)


def _placeholder_image(values: np.ndarray, task_names: list[str], title: str) -> Image.Image:
    """Stands in for `render_heatmap`: a 1-pixel image, no drawing."""
    return Image.new("RGB", (1, 1))


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
    """Write a study folder as `aimstudy run` leaves it, through the same writers (the study
    folder, the experiment and launch, the trial callback; maybe optuna.db) plus the spec
    `<name>.yaml` beside the folder, and return the parent run id and tracking URI.

    The last `failed` trials are logged as FAILED half-way; `missing_seed` is in the spec's grid
    but never run, so the report must list its cells as missing. Finished trials of `peak_early`
    methods have their best epoch before the last; the others peak at their last epoch.
    """
    study = StudyFolder(folder.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    uri = study.tracking_uri()
    grid_seeds = [*seeds, missing_seed] if missing_seed is not None else seeds
    grid = {"method": methods, "n_train": sizes, "seed": grid_seeds}
    spec = StudySpec(name=name, dataset=DataConfig(name="qm9"), grid=grid, output=folder)
    experiment_id = open_experiment(uri, name, study.artifacts)  # a second launch reuses it
    ray_path = study.new_ray_path(name)
    parent = start_parent_run(uri, experiment_id, name, ray_path.name)
    spec_dict = spec.model_dump(mode="json")
    log_launch(uri, parent, n_trials=spec.n_trials, search="grid", grid=grid, spec=spec_dict)
    runs = StudyRuns(uri, experiment_id, parent)
    study.write_launch(spec, runs, ray_path)
    rng = np.random.default_rng(0)
    cells = list(itertools.product(methods, sizes, seeds))
    # Heatmaps are read by no test here, and drawing them is most of the time on a loaded
    # machine: the callback logs a placeholder image in their place.
    with mock.patch.object(_callback, "render_heatmap", _placeholder_image):
        _log_trials(runs, name, cells, failed, tasks, epochs, rng, peak_early)
    close_launch(runs, "FINISHED", n_failed=failed)
    user_spec = {"name": name, "dataset": {"name": "qm9"}, "grid": grid, "output": str(folder)}
    (folder.parent / f"{name}.yaml").write_text(yaml.safe_dump(user_spec))
    if optuna_trials:
        _optuna(study, name, optuna_trials)
    return {"parent": parent, "uri": uri}


def _optuna(folder: StudyFolder, name: str, n_trials: int) -> None:
    """A small two-objective Optuna study in `optuna.db`, like a multi-metric search leaves."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = folder.optuna_url()
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
