"""One synthetic study (real MLflow SQLite store + Optuna storage) shared by the analysis tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.analysis.synthetic import make_study

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A finished study folder: stl/ls/aim-matrix x n_train 100/1000 x seeds 0-2, one trial
    failed, seed 3 in the grid but never run, a two-objective Optuna study beside it."""
    folder = tmp_path_factory.mktemp("studies") / "synthetic"
    ids = make_study(folder, optuna_trials=12)
    return folder, ids


@pytest.fixture(scope="session")
def synthetic_analysis(synthetic_study: tuple[Path, dict[str, str]]):  # noqa: ANN201
    """`analyse` of the synthetic study, computed once for every test that only reads it."""
    from aimstudy.analysis import analyse, open_study

    folder, _ = synthetic_study
    return analyse(open_study(folder))
