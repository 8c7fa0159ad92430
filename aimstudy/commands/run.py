"""`aimstudy run STUDY.yaml`: run, resume (`--resume`) or relaunch (`--new-launch`) a study with
Ray Tune, tracked in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction, summary: str) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser("run", help=summary, description=summary)
    parser.add_argument("study", type=Path, help="study file (YAML), e.g. studies/quickstart.yaml")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: the spec's `output`, else ./results/<study name>)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join (e.g. 127.0.0.1:6379 or auto); default: a local Ray",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:////<out>/mlflow.db)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the last launch in --out: only unfinished trials run again",
    )
    parser.add_argument(
        "--new-launch",
        action="store_true",
        help="--out already holds a launch: start another beside it (a new MLflow parent run "
        "and Tune experiment in the same folder and experiment; the old one's trials remain)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value (YAML), e.g. --set dataset.path=data.csv --set train.epochs=5",
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the study and list its trials, run nothing"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no line per trial start, result and end while it runs (the summary still prints)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from aimstudy.tune import (
        check_launch_flags,
        format_table,
        load_spec,
        resolve_out_dir,
        run_study,
    )

    check_launch_flags(args.resume, args.new_launch)
    spec = load_spec(args.study, args.overrides)
    out = resolve_out_dir(spec, args.out)
    print(f"study {spec.name}: {spec.n_trials} trial(s), output {out}", flush=True)
    if args.check:
        for cell in spec.cells():
            print("  " + " ".join(f"{k}={v}" for k, v in cell.items()))
        return 0
    outcome = run_study(
        spec,
        out,
        address=args.address,
        tracking_uri=args.tracking_uri,
        resume=args.resume,
        new_launch=args.new_launch,
        progress=not args.no_progress,
    )
    print()
    print(format_table(outcome.table))
    print()
    finished = len(outcome.table) - outcome.n_failed - outcome.n_unfinished
    print(f"{finished} trial(s) finished, {outcome.n_failed} failed")
    if outcome.n_unfinished:
        print(f"interrupted: {outcome.n_unfinished} trial(s) unfinished; continue with")
        print(f"  aimstudy run {args.study} --out {outcome.out_dir} --resume")
    for trial, reason in outcome.errors.items():
        print(f"  failed {trial}: {reason}")
    print(f"results: {outcome.out_dir}")
    print(f"MLflow store: {outcome.tracking_uri} (experiment {spec.name!r})")
    if outcome.optuna_storage:
        print(f"Optuna study: optuna-dashboard {outcome.optuna_storage}")
    print(f"open the MLflow UI: {outcome.ui_command()}")
    return 1 if outcome.n_failed or outcome.n_unfinished else 0
