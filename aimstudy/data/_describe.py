"""A dataset's summary: molecules kept and skipped, tasks with units and label density."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aimstudy.data._config import DataConfig
from aimstudy.data._prepare import featurize_pool, pool_cache_path, pool_rows
from aimstudy.data._registry import featurizer_of, info, load_dataset
from aimstudy.data._table import MoleculeTable

FEATURIZE_UP_TO = 20_000  # describe featurizes smaller pools by itself (QM9 needs --featurize)


@dataclass
class Summary:
    """What `aimstudy data describe` prints."""

    cfg: DataConfig
    table: MoleculeTable  # the pool (after `limit`)
    n_table: int
    featurizer: str
    n_kept: int | None  # None: not featurized
    n_skipped: int | None
    graph_stats: dict[str, float]


def describe(cfg: DataConfig, featurize: bool | None = None) -> Summary:
    """Read the table; featurize (cached) when asked, when small, or count from the cache."""
    kind = featurizer_of(cfg)
    table = load_dataset(cfg, geometry=False)  # geometry is read only when graphs are built
    pool = table.take(pool_rows(len(table), cfg.limit))
    if featurize is None:
        featurize = (
            len(pool) <= FEATURIZE_UP_TO or pool_cache_path(pool, kind, cfg.cache_dir).exists()
        )
    n_kept = n_skipped = None
    stats: dict[str, float] = {}
    if featurize:
        if kind == "3d":
            pool = load_dataset(cfg, geometry=True).take(pool_rows(len(table), cfg.limit))
        graphs, kept, n_skipped, _, _ = featurize_pool(pool, kind, cfg.cache_dir)
        n_kept = len(kept)
        if graphs is not None:
            nodes = torch.diff(graphs.slices["x"]).double()
            edges = torch.diff(graphs.slices["edge_index"]).double()
            stats = {
                "nodes": float(nodes.mean()),
                "edges": float(edges.mean()),
                "max_nodes": float(nodes.max()),
            }
    return Summary(cfg, pool, len(table), kind, n_kept, n_skipped, stats)


def _set_name(s: Summary) -> str:
    if s.cfg.tasks == "default":
        return f"default = {info(s.cfg.name).default_tasks}"
    return str(s.cfg.tasks)


def format_summary(s: Summary) -> str:
    """Plain-text report, one fact per line, then a task table."""
    entry = info(s.cfg.name)
    lines = [f"dataset   {s.cfg.name}: {entry.description}", f"source    {s.table.source}"]
    lines.append(
        f"molecules {s.n_table:,} in the dataset"
        + (f", pool of {len(s.table):,} (limit {s.cfg.limit})" if s.cfg.limit else "")
    )
    if s.n_kept is None:
        lines.append(
            f"graphs    not featurized ({s.featurizer}); pass --featurize to count "
            "kept and skipped molecules"
        )
    else:
        lines.append(
            f"graphs    {s.featurizer}: {s.n_kept:,} kept, {s.n_skipped:,} skipped "
            "(SMILES/geometry RDKit could not read)"
        )
        if s.graph_stats:
            st = s.graph_stats
            lines.append(
                f"          mean {st['nodes']:.1f} nodes, {st['edges']:.1f} edges per "
                f"graph, largest {st['max_nodes']:.0f} nodes"
            )
    lines.extend(s.table.notes)
    density = s.table.label_density()
    lines.append(
        f"tasks     {len(s.table.tasks)}"
        + (f" (set {_set_name(s)})" if isinstance(s.cfg.tasks, str) else "")
    )
    rows = [("task", "unit", "reported in", "labelled", "mean", "std", "description")]
    for j, task in enumerate(s.table.tasks):
        col = s.table.targets[:, j]
        known = col[~np.isnan(col)]
        mean = f"{known.mean():.4g}" if len(known) else "-"
        std = f"{known.std():.4g}" if len(known) else "-"
        report = task.report_unit
        if task.report_factor != 1.0:
            report = f"{task.report_unit} (x{task.report_factor:g})"
        rows.append(
            (task.name, task.unit, report, f"{density[j]:.1%}", mean, std, task.description)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        lines.append(
            "  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[6]
        )
    labelled = float(np.mean(~np.isnan(s.table.targets))) if len(s.table) else 0.0
    lines.append(f"label density {labelled:.1%} over all tasks")
    return "\n".join(lines)
