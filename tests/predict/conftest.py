"""Fixtures of the prediction tests: one tiny study (an ls and an stl trial) trained once per
session with the MLflow callback into a real study folder, and the trainer's own test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from aimstudy.data import DataConfig, load_dataset, prepare
from aimstudy.tracking import MLflowCallback, StudyRuns, open_experiment, start_parent_run
from aimstudy.train import TrialConfig, TrialResult, best_key, run_trial
from aimstudy.tune import StudyFolder, validate_spec

TASKS = ["homo", "lumo", "mu"]  # homo and lumo train in eV and are reported in meV
STUDY = "predict-study"
TINY: dict[str, Any] = {
    "model": "gin",
    "model_options": {"hidden": 16, "layers": 2},
    "n_train": 40,
    "epochs": 6,
    "batch_size": 16,
    "eval_batch_size": 64,
    "patience": None,
    "diagnose_every": 0,
    "device": "cpu",
}
INVALID = ["not a smiles", "", "C1CC"]  # unparsable, empty, an unclosed ring


@dataclass
class Trial:
    """One trained trial: its folder, what the trainer reported and its MLflow run."""

    config: TrialConfig
    workdir: Path
    result: TrialResult
    run_id: str

    def reported(self, task: str) -> float:
        """The test MAE the trainer reports for `task` (each stl task at its own best epoch)."""
        return self.result.metrics[best_key(f"test/mae/{task}")]


@dataclass
class TinyStudy:
    folder: Path
    tracking_uri: str
    trials: dict[str, Trial]  # method -> trial


def tiny_config(cache: Path, method: str, **changes: Any) -> TrialConfig:
    data = DataConfig(
        name="qm9", tasks=TASKS, featurizer="2d", limit=80, val_size=12, test_size=12,
        cache_dir=cache,
    )  # fmt: skip
    return TrialConfig(dataset=data, method=method, **{**TINY, **changes})


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture(scope="session")
def study(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyStudy:
    """A study folder as `aimstudy run` leaves it (study.json, mlflow.db, artifacts), its two
    trials run by `run_trial` with the MLflow callback, without Ray."""
    folder = StudyFolder(tmp_path_factory.mktemp("study"))
    spec = validate_spec({
        "name": STUDY,
        "dataset": tiny_config(cache, "ls").dataset.model_dump(mode="json"),
        "train": {k: v for k, v in TINY.items() if k not in ("n_train", "device")},
        "grid": {"method": ["ls", "stl"], "n_train": [40], "seed": [0]},
    })  # fmt: skip
    uri = folder.tracking_uri()
    experiment = open_experiment(uri, STUDY, folder.artifacts)
    runs = StudyRuns(uri, experiment, start_parent_run(uri, experiment, STUDY, "launch"))
    folder.write_launch(spec, runs, folder.new_ray_path(STUDY))
    trials = {}
    for method in ("ls", "stl"):
        workdir = folder.path / "trials" / method
        callback = MLflowCallback(runs, method, study=STUDY, workdir=workdir)
        config = tiny_config(cache, method)
        result = run_trial(config, workdir, [callback])
        trials[method] = Trial(config, workdir, result, callback.run_id)
    return TinyStudy(folder.path, uri, trials)


@pytest.fixture(scope="session")
def test_split(study: TinyStudy) -> tuple[list[str], np.ndarray]:
    """The trainer's test molecules: SMILES and labels [N, T] in report units (NaN: none)."""
    config = study.trials["ls"].config
    data = prepare(config.dataset, config.n_train, config.guidance_fraction, config.seed)
    table = load_dataset(config.dataset)
    position = {int(r): i for i, r in enumerate(table.rows)}
    smiles = [table.smiles[position[int(r)]] for r in data.rows["test"]]
    y = torch.cat([g.y for g in data.test]).double()  # [N, T] training units
    mask = torch.cat([g.y_mask for g in data.test])  # [N, T]
    factors = torch.tensor([t.report_factor for t in data.tasks], dtype=torch.float64)
    labels = torch.where(mask, y * factors, torch.full_like(y, float("nan")))
    return smiles, labels.numpy()


@pytest.fixture(scope="session")
def molecules(test_split: tuple[list[str], np.ndarray]) -> pd.DataFrame:
    """The test molecules with invalid SMILES in between, and an id column to keep."""
    smiles = list(test_split[0])
    for k, bad in enumerate(INVALID):
        smiles.insert(3 * k + 1, bad)
    return pd.DataFrame({"id": [f"m{i:02d}" for i in range(len(smiles))], "smiles": smiles})


def split_mae(predicted: pd.DataFrame, labels: np.ndarray, task: int, name: str) -> float:
    """MAE of the predictions of the valid rows against the test labels of one task."""
    values = predicted.loc[predicted["error"].isna(), name].to_numpy()
    keep = ~np.isnan(labels[:, task])
    return float(np.abs(values - labels[:, task])[keep].mean())
