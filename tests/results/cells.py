"""Published cells: a few trials of a study in docs/results/, saved so a test can rebuild them.

A cell file holds, per trial, the resolved trial config, its tasks and the `best/...` metrics it
logged. `replay` writes them into a fresh study folder through the writers `aimstudy run` uses
(the study folder, the launch, `tracking.MLflowCallback`), so the report code reads them exactly
as it read the real study. Make a cell from a finished study by hand:

    .venv/bin/python -m tests.results.cells results/qm9-data-efficiency-cpu \\
        --arm stl --arm aim-matrix --n-train 1000 --out tests/results/cells/NAME.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from mlflow import MlflowClient

from aimstudy.analysis import analyse, open_study
from aimstudy.analysis._arms import ARM
from aimstudy.data import Task
from aimstudy.tracking import (
    MLflowCallback,
    StudyRuns,
    close_launch,
    log_launch,
    open_experiment,
    start_parent_run,
)
from aimstudy.train import BEST_EPOCH, BEST_PREFIX, TrialConfig, TrialResult
from aimstudy.tune import StudyFolder, StudySpec

CONFIG_ARTIFACT = "config.yaml"


def extract(folder: Path, arms: list[str], n_train: int) -> dict[str, Any]:
    """The finished trials of `arms` at `n_train` in the latest launch of the study in `folder`."""
    study = open_study(folder)
    table = analyse(study, with_policy=False).table
    chosen = table[
        table[ARM].isin(arms) & (table["n_train"] == n_train) & (table["status"] == "FINISHED")
    ].drop_duplicates("run_id")
    client = MlflowClient(study.tracking_uri)
    trials = []
    for run_id in chosen["run_id"]:
        run = client.get_run(run_id)
        config_file = Path(client.download_artifacts(run_id, CONFIG_ARTIFACT))
        config = yaml.safe_load(config_file.read_text())
        metrics = {k: v for k, v in run.data.metrics.items() if k.startswith(BEST_PREFIX)}
        trials.append({"config": config, "metrics": metrics})
    return {"study": study.name, "arms": arms, "n_train": n_train, "trials": trials}


def replay(cell: dict[str, Any], folder: Path) -> Path:
    """Write the cell's trials into a new study folder as one launch; returns the folder."""
    study = StudyFolder(folder.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    configs = [TrialConfig.model_validate(t["config"]) for t in cell["trials"]]
    grid = _grid(configs)
    spec = StudySpec(name=cell["study"], dataset=configs[0].dataset, grid=grid, output=folder)
    uri = study.tracking_uri()
    experiment_id = open_experiment(uri, spec.name, study.artifacts)
    ray_path = study.new_ray_path(spec.name)
    parent = start_parent_run(uri, experiment_id, spec.name, ray_path.name)
    log_launch(
        uri,
        parent,
        n_trials=len(configs),
        search="grid",
        grid=grid,
        spec=spec.model_dump(mode="json"),
    )
    runs = StudyRuns(uri, experiment_id, parent)
    study.write_launch(spec, runs, ray_path)
    for k, (trial, config) in enumerate(zip(cell["trials"], configs, strict=True)):
        _log(runs, spec.name, f"t{k:03d}", config, trial)
    close_launch(runs, "FINISHED", n_failed=0)
    return folder


def _grid(configs: list[TrialConfig]) -> dict[str, list[Any]]:
    """The keys the cell's trials vary, as a grid (method_options as whole mappings)."""
    grid: dict[str, list[Any]] = {}
    for key in ("method", "method_options", "n_train", "seed"):
        values = []
        for config in configs:
            value = getattr(config, key)
            if value not in values:
                values.append(value)
        grid[key] = values
    return grid


def _log(runs: StudyRuns, study: str, trial_id: str, config: TrialConfig, trial: dict) -> None:
    metrics = trial["metrics"]
    names = sorted({k.rsplit("/", 1)[-1] for k in metrics if "/mae/" in k})
    tasks = [Task(name, unit="") for name in names]  # units: the report reads the dataset's
    callback = MLflowCallback(runs, trial_id, study=study)
    callback.on_start(config, tasks)
    best_epoch = int(metrics.get(BEST_EPOCH, 1))
    callback.on_end(TrialResult(best_epoch, metrics, [], None, names))


def main() -> None:
    parser = argparse.ArgumentParser(description="Save one published cell of a study for tests.")
    parser.add_argument("folder", type=Path, help="the study folder (aimstudy run --out)")
    parser.add_argument("--arm", action="append", required=True, help="arm label (repeatable)")
    parser.add_argument("--n-train", type=int, required=True, help="the cell's n_train")
    parser.add_argument("--out", type=Path, required=True, help="the cell file to write (.json)")
    args = parser.parse_args()
    cell = extract(args.folder, args.arm, args.n_train)
    args.out.write_text(json.dumps(cell, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {len(cell['trials'])} trial(s)")


if __name__ == "__main__":
    main()
