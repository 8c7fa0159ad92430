"""`aimstudy data describe NAME`: molecules kept and skipped, tasks, units, label density."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any, summary: str) -> None:
    """Add the `data` subcommand (with its `describe` action)."""
    parser = subparsers.add_parser("data", help=summary, description=summary)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    d = actions.add_parser(
        "describe",
        help="summarize a dataset",
        description="Read a dataset and print molecules kept/skipped, tasks with units and "
        "label density. Large pools (QM9) are featurized only with --featurize or when cached.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d.add_argument("name", help="dataset name: qm9, csv, biogen, tpd-adme")
    d.add_argument(
        "--tasks",
        default="default",
        help="task set (qm9: nashmtl11, qm9_12; csv: biogen) or comma-separated names",
    )
    d.add_argument("--path", type=Path, help="data file (csv; optional for biogen and tpd-adme)")
    d.add_argument("--smiles-column", help="SMILES column of a csv file (found by name if unset)")
    d.add_argument("--featurizer", choices=["auto", "2d", "3d"], default="auto")
    d.add_argument("--limit", type=int, help="describe a seeded subsample of this many molecules")
    d.add_argument("--cache-dir", type=Path, help="cache folder (default ~/.cache/aimstudy)")
    d.add_argument(
        "--featurize",
        action="store_true",
        help="featurize (and cache) the pool to count kept and skipped molecules",
    )
    d.set_defaults(func=_describe)


def _describe(args: argparse.Namespace) -> int:
    from aimstudy.data import DataConfig
    from aimstudy.data._describe import describe, format_summary

    tasks: str | list[str] = args.tasks
    if "," in tasks:
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    cfg = DataConfig(
        name=args.name,
        tasks=tasks,
        featurizer=args.featurizer,
        path=args.path,
        smiles_column=args.smiles_column,
        limit=args.limit,
        cache_dir=args.cache_dir,
    )
    print(format_summary(describe(cfg, featurize=True if args.featurize else None)))
    return 0
