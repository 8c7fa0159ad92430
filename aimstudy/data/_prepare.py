"""`prepare`: dataset -> featurized, cached pool -> split -> training subset, scaler, masks."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from aimstudy.data import _featurize
from aimstudy.data._build import build_pool
from aimstudy.data._cache import GraphSet, cache_root, content_hash, load_or_build
from aimstudy.data._config import SPLIT_PARTS, DataConfig
from aimstudy.data._registry import featurizer_of, load_dataset
from aimstudy.data._scaling import Standardizer
from aimstudy.data._splits import (
    Split,
    check_parts,
    column_split,
    murcko_scaffold,
    part_sizes,
    random_split,
    resolve_size,
    scaffold_split,
    split_sizes,
    training_subset,
)
from aimstudy.data._table import MoleculeTable
from aimstudy.data._tasks import Task

_log = logging.getLogger("aimstudy.data")
LIMIT_SEED = 0  # the `limit` subsample is the same for every trial seed, so pools are shared
SHOW_SKIPPED = 5  # skipped SMILES a PreparedData keeps (and the warning names): the first few


@dataclass
class PreparedData:
    """Everything a trial needs from the data layer (see docs/architecture.md, "data")."""

    name: str
    tasks: list[Task]
    train: GraphSet
    guide: GraphSet
    val: GraphSet
    test: GraphSet
    scaler: Standardizer
    node_dim: int
    edge_dim: int
    featurizer: str
    n_skipped: int
    n_molecules: int  # molecules in the pool after featurization (kept)
    skipped_smiles: list[str] = field(default_factory=list)  # the first SHOW_SKIPPED skipped
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # split -> dataset row numbers
    cache_path: Path | None = None
    from_cache: bool = False

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]


def pool_rows(n: int, limit: int | None) -> np.ndarray:
    """Rows of the pool: all, or a fixed-seed subsample of `limit` (sorted; limits nest)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(LIMIT_SEED).permutation(n)[:limit])


def pool_cache_path(table: MoleculeTable, kind: str, cache_dir: Path | None) -> Path:
    """Cache file of a pool: keyed by its SMILES (and geometry) and the featurizer version."""
    version = _featurize.VERSION_3D if kind == "3d" else _featurize.VERSION_2D
    rows = ",".join(map(str, table.rows.tolist()))
    key = content_hash((version, table.content_key, rows), table.smiles)
    return cache_root(cache_dir) / "graphs" / f"{version}-{key[:32]}.pt"


def featurize_pool(
    table: MoleculeTable, kind: str, cache_dir: Path | None
) -> tuple[GraphSet | None, np.ndarray, int, Path, bool]:
    """Featurize (or load from cache) every molecule of `table`.

    Returns (graphs or None if none kept, kept positions into the table, n_skipped, cache file,
    whether it came from the cache).
    """
    path = pool_cache_path(table, kind, cache_dir)

    entry, hit = load_or_build(path, lambda: build_pool(table, kind))
    kept = entry["kept"].numpy()
    if len(kept) == 0:
        return None, kept, entry["n_skipped"], path, hit
    data = Data.from_dict(entry["data"])
    return GraphSet(data, dict(entry["slices"])), kept, entry["n_skipped"], path, hit


def _attach_targets(graphs: GraphSet, targets: np.ndarray, mol_ids: np.ndarray) -> None:
    """Set y [1, T] (NaN -> 0), y_mask [1, T] and mol_id on every graph of the collated set."""
    y = torch.as_tensor(targets, dtype=torch.float32)  # [N, T]
    mask = ~torch.isnan(y)
    data = graphs._data
    data.y = torch.nan_to_num(y, nan=0.0)
    data.y_mask = mask
    data.mol_id = torch.as_tensor(mol_ids, dtype=torch.long)  # [N] dataset row numbers
    steps = torch.arange(len(y) + 1)
    for key in ("y", "y_mask", "mol_id"):
        graphs.slices[key] = steps
    graphs._data_list = None


def _check_sizes(cfg: DataConfig, table: MoleculeTable, n_train: int | None) -> tuple[int, int]:
    """Validation / test counts of the table's split.

    ValueError (before featurization) if a part is empty or n_train does not fit in the
    training part.
    """
    n_val, n_test, available = _split_sizes(cfg, table)
    if n_train is not None and not 1 <= n_train <= available:
        if cfg.split == "column":
            origin = f"the given train part of split column {cfg.split_column!r} in {table.source}"
        else:
            origin = f"{len(table)} in the pool minus {n_val} validation and {n_test} test"
        raise ValueError(
            f"{cfg.name}: n_train={n_train} is more than the {available} molecules "
            f"available for training ({origin})"
        )
    return n_val, n_test


def _split_sizes(cfg: DataConfig, table: MoleculeTable) -> tuple[int, int, int]:
    """(validation, test, training) counts of the table's split, before any subset."""
    if cfg.split == "column":
        return _column_sizes(cfg, table)
    n_pool = len(table)
    val_size, test_size = cfg.eval_sizes()
    n_val = resolve_size(val_size, n_pool, "val_size")
    n_test = resolve_size(test_size, n_pool, "test_size")
    available = n_pool - n_val - n_test
    if available < 1:
        raise ValueError(
            f"{cfg.name}: val_size and test_size leave no training molecules of {n_pool}"
        )
    return n_val, n_test, available


def _column_sizes(cfg: DataConfig, table: MoleculeTable) -> tuple[int, int, int]:
    """Sizes of the given parts; ValueError naming the empty part(s) and every part's size."""
    if table.parts is None:  # a dataset whose loader reads no split column
        raise ValueError(f"{cfg.name}: split: column is not supported; use random or scaffold")
    sizes = part_sizes(table.parts)
    empty = [part for part, n in sizes.items() if n == 0]
    if empty:
        shown = ", ".join(f"{part} {n}" for part, n in sizes.items())
        pool = f"; pool of {len(table)} after limit {cfg.limit}" if cfg.limit else ""
        noun = "part" if len(empty) == 1 else "parts"
        raise ValueError(
            f"{cfg.name} ({table.source}): split column {cfg.split_column!r} leaves the "
            f"{' and '.join(empty)} {noun} empty ({shown}{pool}); each of "
            f"{'/'.join(SPLIT_PARTS)} needs a molecule"
        )
    return sizes["val"], sizes["test"], sizes["train"]


def _check_labels(tasks: list[Task], targets: np.ndarray, where: str) -> None:
    """ValueError naming every task with no label in `targets` [N, T]."""
    empty = [t.name for t, n in zip(tasks, (~np.isnan(targets)).sum(0), strict=True) if n == 0]
    if empty:
        raise ValueError(f"task(s) {empty} have no labelled molecule in the {where}")


def _check_eval_labels(cfg: DataConfig, table: MoleculeTable, split: Split, seed: int) -> None:
    """Every task needs a label in val (model selection) and test (its score): a part without
    one would select or score that task on nothing, silently (NaN MAE)."""
    sizes = ", ".join(f"{part} {n}" for part, n in split_sizes(split).items())
    for part in ("val", "test"):
        where = f"{part} part of {cfg.name}'s {cfg.split} split (seed {seed}; {sizes})"
        _check_labels(table.tasks, table.targets[getattr(split, part)], where)


def skipped_smiles(table: MoleculeTable, kept: np.ndarray, n: int = SHOW_SKIPPED) -> list[str]:
    """The first `n` SMILES of `table` that featurization skipped (kept: positions kept)."""
    skipped = np.setdiff1d(np.arange(len(table)), kept, assume_unique=True)[:n]
    return [table.smiles[i] for i in skipped]


def scaffolds_of(table: MoleculeTable, cache_file: Path | None) -> list[str]:
    """Murcko scaffolds of the table's molecules, cached next to the pool's graphs."""
    if cache_file is not None and cache_file.exists():
        cached = json.loads(cache_file.read_text())
        if len(cached) == len(table):
            return cached
    scaffolds = [murcko_scaffold(s) for s in table.smiles]
    if cache_file is not None:
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(scaffolds))
        os.replace(tmp, cache_file)
    return scaffolds


def make_split(
    cfg: DataConfig, table: MoleculeTable, seed: int, cache_file: Path | None = None
) -> Split:
    """The split of a (featurized) pool table for this seed."""
    n_val, n_test = _check_sizes(cfg, table, None)
    if cfg.split == "column":
        split = column_split(table.parts, seed)
    elif cfg.split == "scaffold":
        split = scaffold_split(scaffolds_of(table, cache_file), n_val, n_test, seed)
    else:
        split = random_split(len(table), n_val, n_test, seed)
    # Rounding (a small fraction of a small pool) or large scaffold groups can empty a part.
    check_parts(split, f"{cfg.name} ({table.source}): {cfg.split} split (seed {seed})")
    return split


def prepare(
    cfg: DataConfig, n_train: int | None = None, guidance_fraction: float = 0.1, seed: int = 0
) -> PreparedData:
    """Featurize (cached) the pool, split it for `seed`, take the nested `n_train` subset.

    `n_train=None` uses the whole training pool. Checks of names, files, columns and sizes run
    before any featurization.
    """
    kind = featurizer_of(cfg)
    table = load_dataset(cfg, geometry=False)
    pool = table.take(pool_rows(len(table), cfg.limit))
    _check_sizes(cfg, pool, n_train)
    if not 0.0 <= guidance_fraction < 1.0:
        raise ValueError(f"guidance_fraction={guidance_fraction} must be in [0, 1)")
    _check_labels(pool.tasks, pool.targets, f"{cfg.name} pool")
    if kind == "3d" and not pool_cache_path(pool, kind, cfg.cache_dir).exists():
        pool = load_dataset(cfg, geometry=True).take(pool.rows)  # geometry only to build graphs
    graphs, kept, n_skipped, path, hit = featurize_pool(pool, kind, cfg.cache_dir)
    skipped = skipped_smiles(pool, kept) if n_skipped else []
    if n_skipped:
        _log.warning(
            "%s: %d of %d molecules could not be featurized (%s) and are skipped, first: %s",
            cfg.name,
            n_skipped,
            len(pool),
            kind,
            ", ".join(map(repr, skipped)),
        )
    if graphs is None:
        raise ValueError(f"{cfg.name}: no molecule of {len(pool)} could be featurized")
    kept_table = pool.take(kept)
    row_ids = kept_table.rows  # [N_kept] dataset row numbers
    _attach_targets(graphs, kept_table.targets, row_ids)
    split = make_split(cfg, kept_table, seed, path.with_suffix(".scaffolds.json"))
    primary, guide = training_subset(split, n_train, guidance_fraction)
    _check_labels(pool.tasks, kept_table.targets[primary], f"training subset (n_train={n_train})")
    _check_eval_labels(cfg, kept_table, split, seed)
    train_mask = ~np.isnan(kept_table.targets[primary])
    scaler = Standardizer.fit(
        torch.as_tensor(np.nan_to_num(kept_table.targets[primary])), torch.as_tensor(train_mask)
    )
    parts = {"train": primary, "guide": guide, "val": split.val, "test": split.test}
    sets = {k: graphs[torch.as_tensor(v, dtype=torch.long)] for k, v in parts.items()}
    return PreparedData(
        name=cfg.name,
        tasks=pool.tasks,
        train=sets["train"],
        guide=sets["guide"],
        val=sets["val"],
        test=sets["test"],
        scaler=scaler,
        node_dim=int(graphs._data.x.shape[1]),
        edge_dim=int(graphs._data.edge_attr.shape[1]),
        featurizer=kind,
        n_skipped=n_skipped,
        n_molecules=len(kept),
        skipped_smiles=skipped,
        rows={k: row_ids[v] for k, v in parts.items()},
        cache_path=path,
        from_cache=hit,
    )
