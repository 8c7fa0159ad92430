"""`aimstudy predict MODEL --input FILE --out FILE`: predict every row of a SMILES table.

The output has the input's rows in order with all their columns, one column per task in the
units of the trial's reported metrics, and `error` for rows whose SMILES gave no graph (their
task values are empty). Bad input fails in one line before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MODEL_HELP = (
    "a trial folder, a study folder (its best trial by --metric), an MLflow model folder "
    "(aimstudy export) or an MLflow run runs:/RUN_ID"
)


def register(subparsers: argparse._SubParsersAction, summary: str) -> None:
    """Add the `predict` subcommand (defaults resolved in `run`: no torch import for --help)."""
    p = subparsers.add_parser("predict", help=summary, description=summary)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--input", type=Path, required=True, help="CSV or Parquet with SMILES")
    p.add_argument("--out", type=Path, required=True, help="CSV or Parquet (by its suffix)")
    p.add_argument("--smiles-column", help="the SMILES column (default: smiles)")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, help="molecules per batch (default: 256)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the model runs (default: auto, a GPU when there is one)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--metric, --mode and --tracking-uri: how MODEL is found (shared with `export`)."""
    p.add_argument(
        "--metric",
        help="study folder: the trial metric that chooses its trial, at the trial's best epoch "
        "(default: the selection metric val/norm_mae)",
    )
    p.add_argument(
        "--mode",
        choices=["min", "max"],
        default="min",
        help="whether the lowest or the highest value wins (default: min)",
    )
    p.add_argument(
        "--tracking-uri",
        help="MLflow store (default: a study folder's own; for runs:/ $MLFLOW_TRACKING_URI)",
    )


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of `open_model` from the flags of `add_model_options`."""
    from aimstudy.train import SELECTION_METRIC

    metric = args.metric or SELECTION_METRIC
    return {"metric": metric, "mode": args.mode, "tracking_uri": args.tracking_uri}


def run(args: argparse.Namespace) -> int:
    """Read, resolve MODEL, predict in batches, write; a summary line on stdout."""
    from aimstudy.commands._models import open_model
    from aimstudy.predict import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_SMILES_COLUMN,
        load_predictor,
        predict_table,
        read_table,
        table_format,
        write_table,
    )

    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    column = args.smiles_column or DEFAULT_SMILES_COLUMN
    table_format(args.out, "--out")
    frame = read_table(args.input, column)
    with open_model(args.model, **model_options(args)) as source:
        predictor = load_predictor(source.checkpoint, args.device)
    bar = _progress(len(frame), batch_size, args.no_progress)
    try:
        table = predict_table(predictor, frame, column, batch_size, bar.update)
    finally:
        bar.close()
    write_table(table, args.out)
    failed = int(table["error"].notna().sum())
    units = ", ".join(f"{t} [{u}]" if u else t for t, u in predictor.units.items())
    print(f"predicted {len(table) - failed} of {len(table)} rows with {source.description}")
    if failed:
        print(f"  {failed} rows without a prediction: see the error column")
    print(f"  columns: {units}")
    print(f"wrote {args.out}")
    return 0


def _progress(total: int, batch_size: int, off: bool) -> Any:
    """A tqdm bar over molecules on stderr, for inputs of more than one batch."""
    from tqdm.auto import tqdm

    disable = off or total <= batch_size
    return tqdm(total=total, unit="mol", disable=disable, dynamic_ncols=True, file=sys.stderr)
