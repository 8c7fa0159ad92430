"""The dataset registry: name -> how to read its table, its default featurizer, a description."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from aimstudy.data import _csv, _qm9, _tpd
from aimstudy.data._config import DataConfig
from aimstudy.data._table import MoleculeTable


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: `load(cfg, geometry)` reads its table without featurizing."""

    name: str
    description: str
    load: Callable[[DataConfig, bool], MoleculeTable]
    default_featurizer: str = "2d"
    has_geometry: bool = False
    default_tasks: str = "every numeric column"  # what tasks="default" means here


def _load_qm9(cfg: DataConfig, geometry: bool) -> MoleculeTable:
    if cfg.path is not None:
        raise ValueError(f"qm9: reads the qm9pack package and takes no path (got {cfg.path})")
    if cfg.split == "column":
        raise ValueError(
            f"qm9: has no split column ({cfg.split_column!r}); split: column needs a data "
            "file (csv, biogen, tpd-adme); use split: random or scaffold"
        )
    return _qm9.load(cfg.tasks, geometry=geometry)


def _load_csv(cfg: DataConfig, geometry: bool) -> MoleculeTable:
    return _csv.load(cfg.path, cfg.tasks, cfg.smiles_column, cfg.name, cfg.split_column)


def _load_biogen(cfg: DataConfig, geometry: bool) -> MoleculeTable:
    """The csv loader with the 'biogen' preset, on the shipped file unless `path` is given."""
    tasks = "biogen" if cfg.tasks == "default" else cfg.tasks
    path = _csv.BIOGEN_FILE if cfg.path is None else cfg.path
    return _csv.load(path, tasks, cfg.smiles_column, "biogen", cfg.split_column)


def _load_tpd(cfg: DataConfig, geometry: bool) -> MoleculeTable:
    return _tpd.load(cfg)


_REGISTRY: dict[str, DatasetInfo] = {
    "qm9": DatasetInfo(
        "qm9",
        "QM9 (Ramakrishnan et al. 2014): 130,831 small organic molecules (C, H, N, O, F; up to "
        "9 heavy atoms), B3LYP/6-31G(2df,p) properties, from the qm9pack package (offline).",
        _load_qm9,
        default_featurizer="3d",
        has_geometry=True,
        default_tasks="nashmtl11",
    ),
    "csv": DatasetInfo(
        "csv",
        "Any CSV/Parquet file (DataConfig.path) with a SMILES column and numeric target "
        "columns; empty cells are unlabelled. Task preset 'biogen' for the Biogen ADME set.",
        _load_csv,
    ),
    "biogen": DatasetInfo(
        "biogen",
        "Biogen ADME (Fang et al. 2023, MIT): 3,521 compounds x 6 sparse log-scale ADME "
        "endpoints, shipped with aimstudy; the csv dataset with the 'biogen' preset (path: "
        "another copy of the file).",
        _load_biogen,
        default_tasks="biogen (6 endpoints)",
    ),
    "tpd-adme": DatasetInfo(
        "tpd-adme",
        "TPD ADME (Peteani et al., Nat. Commun. 2024, CC BY 4.0): model-predicted ADME "
        "endpoints of targeted protein degraders; zip downloaded once and cached.",
        _load_tpd,
        default_tasks="every pred(...) endpoint",
    ),
}


def names() -> list[str]:
    """Registered dataset names."""
    return list(_REGISTRY)


def info(name: str) -> DatasetInfo:
    """The registry entry of `name`; ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def options(name: str) -> dict[str, object]:
    """The `dataset:` options that go with `name` and their defaults, from DataConfig's signature.

    Every dataset takes the same options; what `tasks: default` selects differs per dataset
    (`info(name).default_tasks`), and `featurizer: auto` follows the dataset and the model.
    """
    info(name)  # an unknown name is a ValueError listing the known ones
    params = inspect.signature(DataConfig).parameters
    return {key: p.default for key, p in params.items() if key != "name"}


def featurizer_of(cfg: DataConfig) -> str:
    """'2d' or '3d': 'auto' means the dataset's default (3-D for QM9, 2-D elsewhere)."""
    entry = info(cfg.name)
    kind = entry.default_featurizer if cfg.featurizer == "auto" else cfg.featurizer
    if kind == "3d" and not entry.has_geometry:
        raise ValueError(
            f"featurizer='3d' needs 3-D geometry, which dataset {cfg.name!r} "
            "does not ship; use '2d'"
        )
    return kind


def load_dataset(cfg: DataConfig, geometry: bool | None = None) -> MoleculeTable:
    """Read the dataset's table (SMILES, targets in training units, tasks); no featurization.

    `geometry` (default: when the featurizer is 3-D) also reads the XYZ coordinates.
    """
    entry = info(cfg.name)
    if geometry is None:
        geometry = featurizer_of(cfg) == "3d"
    return entry.load(cfg, geometry)


def report_units(name: str, tasks: list[str]) -> dict[str, str]:
    """{task: unit its metrics are reported in} from the dataset's task definitions alone (QM9's
    specs, the Biogen preset, a `(unit)` suffix of a CSV column), reading no data; tasks whose
    unit is not known this way are left out."""
    if name == "qm9":
        units = {}
        for task in tasks:
            try:
                units[task] = _qm9.resolve_tasks([task])[0].report_unit
            except ValueError:
                continue
        return units
    biogen = {task: unit for task, unit, _ in _csv.BIOGEN.values()}
    found = {task: biogen.get(task) or _csv.unit_of(task) for task in tasks}
    return {task: unit for task, unit in found.items() if unit}
