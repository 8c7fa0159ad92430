"""Fixtures of the reference-model tests: tiny real QM9 and a sparse slice of Biogen ADME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aimstudy.data import DataConfig
from aimstudy.data._csv import BIOGEN_FILE

N_SPARSE = 160  # Biogen rows of the sparse set: every task keeps val and test labels


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture
def tiny_qm9(graph_cache: Path) -> dict[str, Any]:
    """A TrialConfig dict on 80 QM9 molecules (2-D graphs), 40 of them training."""
    data = DataConfig(
        name="qm9", limit=80, featurizer="2d", val_size=12, test_size=12, cache_dir=graph_cache
    )
    return {"dataset": data.model_dump(), "n_train": 40, "device": "cpu"}


@pytest.fixture(scope="session")
def sparse_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first Biogen ADME rows: six endpoints with about half of the labels missing."""
    path = tmp_path_factory.mktemp("sparse") / "adme.csv"
    pd.read_csv(BIOGEN_FILE).head(N_SPARSE).to_csv(path, index=False)
    return path


@pytest.fixture
def sparse_biogen(sparse_csv: Path, graph_cache: Path) -> dict[str, Any]:
    """A TrialConfig dict on the sparse Biogen slice (random split, 20 val, 20 test)."""
    data = DataConfig(
        name="biogen",
        path=sparse_csv,
        featurizer="2d",
        val_size=20,
        test_size=20,
        cache_dir=graph_cache,
    )
    return {"dataset": data.model_dump(), "device": "cpu"}
