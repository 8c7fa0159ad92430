"""Molecular datasets as PyG graphs: registry, featurization, cache, splits, scaling.

`prepare(DataConfig(...), n_train, guidance_fraction, seed)` is what a trial calls; see
docs/architecture.md ("data") for the contract.
"""

from __future__ import annotations

from aimstudy.data._cache import GraphSet
from aimstudy.data._config import DataConfig
from aimstudy.data._featurize import VERSION_2D, VERSION_3D, featurize_2d
from aimstudy.data._prepare import PreparedData, prepare
from aimstudy.data._registry import (
    featurizer_of,
    info,
    load_dataset,
    names,
    options,
    report_units,
)
from aimstudy.data._scaling import Standardizer
from aimstudy.data._table import MoleculeTable
from aimstudy.data._tasks import Task

__all__ = [
    "VERSION_2D",
    "VERSION_3D",
    "DataConfig",
    "GraphSet",
    "MoleculeTable",
    "PreparedData",
    "Standardizer",
    "Task",
    "featurize_2d",
    "featurizer_of",
    "info",
    "load_dataset",
    "names",
    "options",
    "prepare",
    "report_units",
]
