"""TPD ADME (Peteani et al., Nat. Commun. 2024): a zip downloaded once and cached.

Placeholder until the download is written: a local path (csv/parquet/zip) works.
"""

from __future__ import annotations

from aimstudy.data._config import DataConfig
from aimstudy.data._table import MoleculeTable


def load(cfg: DataConfig) -> MoleculeTable:
    from aimstudy.data import _csv

    if cfg.path is None:
        raise ValueError("tpd-adme: download not implemented yet; give DataConfig.path")
    return _csv.load(cfg.path, cfg.tasks, cfg.smiles_column, name="tpd-adme")
