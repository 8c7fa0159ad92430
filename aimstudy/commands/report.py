"""`aimstudy report STUDY`: analyse a finished study and write its report.

Writes `<study folder>/report/` (report.html with embedded figures, report.md, results.parquet,
CSV tables, figures/*.png) and attaches it to the latest parent run of the study in MLflow.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction, summary: str) -> None:
    """Add the `report` subcommand."""
    parser = subparsers.add_parser("report", help=summary, description=summary)
    parser.add_argument("study", help="a study folder (holding mlflow.db) or the study's YAML spec")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: the one the launch used, else the study folder's "
        "store or the spec's tracking.uri, else $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument("--experiment", default=None, help="experiment name (default: study name)")
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default: <study folder>/report)"
    )
    parser.add_argument(
        "--launch",
        default=None,
        metavar="ID",
        help="which launch to report: a parent run id (or a unique prefix of 6+ characters), "
        "'all' to pool every launch (the report says so); default: the latest",
    )
    parser.add_argument(
        "--no-log", action="store_true", help="do not attach the report to the parent MLflow run"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the study, analyse it, write the report and attach it to the parent run."""
    from aimstudy.analysis import analyse, log_report, write_report

    study = _open(args)
    analysis = analyse(study, launch=args.launch)
    files = write_report(analysis, args.out)
    status = ", ".join(f"{r.trials} {r.status.lower()}" for r in analysis.trial_status.itertuples())
    print(f"study {study.name}: {status or 'no trials'}")
    for note in [*analysis.notes, *files.notes]:
        print(f"  note: {note}")
    print(f"report: {files.html}")
    print(f"tables: {files.markdown}")
    if not args.no_log:
        run_id = log_report(analysis, files)
        where = f"parent run {run_id}" if run_id else "nowhere (no parent run in the store)"
        print(f"attached to {where}")
    return 0


def _open(args: argparse.Namespace) -> Any:
    """The study, its store found as `aimstudy run` chose it: `--tracking-uri`, the store the
    launch recorded (or the folder's, the spec's), and `$MLFLOW_TRACKING_URI` only when none of
    them names one: a variable set for other work never hides the store a launch wrote."""
    from aimstudy.analysis import open_study

    try:
        return open_study(args.study, tracking_uri=args.tracking_uri, experiment=args.experiment)
    except FileNotFoundError:
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if args.tracking_uri or not env or not Path(args.study).exists():
            raise  # a missing study, or no store anywhere
        return open_study(args.study, tracking_uri=env, experiment=args.experiment)
