"""Fixtures of the trainer tests: tiny real QM9 pools featurized once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aimstudy.data import DataConfig


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One featurization cache for the whole session (tiny pools featurize in well under 1 s)."""
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture
def tiny_qm9(graph_cache: Path) -> Any:
    """Factory of small QM9 DataConfigs: `limit` molecules, fixed val/test counts."""

    def make(limit: int = 80, featurizer: str = "2d", **kw: Any) -> DataConfig:
        opts = {"val_size": 12, "test_size": 12, **kw}
        return DataConfig(
            name="qm9", limit=limit, featurizer=featurizer, cache_dir=graph_cache, **opts
        )

    return make
