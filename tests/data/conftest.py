"""Fixtures of the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One featurization cache for the data tests, so each pool is featurized once per session."""
    return tmp_path_factory.mktemp("aimstudy-cache")
