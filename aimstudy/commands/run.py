"""`aimstudy run STUDY.yaml`: run, resume (`--resume`) or relaunch (`--new-launch`) a study with
Ray Tune, tracked in MLflow."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

INTERRUPTED_EXIT = 130  # as a shell reports a program stopped by SIGINT


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
        "--storage",
        default=None,
        metavar="URI",
        help="keep the launch state and trial checkpoints under URI/<study name> (s3://bucket/"
        "prefix, gs://..., or a shared folder), so another machine can --resume or report the "
        "study; needs a tracking server (--tracking-uri http://...). S3-compatible endpoints and "
        "credentials come from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)",
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
        STATE_FILE,
        check_launch_flags,
        format_table,
        load_spec,
        resolve_out_dir,
        run_study,
    )

    check_launch_flags(args.resume, args.new_launch)
    if args.storage:  # the spec's `storage:`, so the saved spec says where the launch lives
        args.overrides.append(f"storage={args.storage}")
    spec = load_spec(args.study, args.overrides)
    out = resolve_out_dir(spec, args.out)
    print(f"study {spec.name}: {spec.n_trials} trial(s), output {out}", flush=True)
    if args.check:
        from aimstudy.tune import StudyFolder, preflight

        for cell in spec.cells():
            print("  " + " ".join(f"{k}={v}" for k, v in cell.items()))
        # The data, metric, tracking and folder checks the run makes before Ray starts, so a
        # study that passes --check does not fail in every trial on its data.
        uri = args.tracking_uri or spec.tracking.uri or StudyFolder(out).tracking_uri()
        for line in preflight(spec, out, uri).lines:
            print(line)
        return 0
    try:
        outcome = run_study(
            spec,
            out,
            address=args.address,
            tracking_uri=args.tracking_uri,
            resume=args.resume,
            new_launch=args.new_launch,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or one before or after Tune ran
        if (out / STATE_FILE).is_file():
            print(f"interrupted; continue with\n  {_resume_command(args, out)}", file=sys.stderr)
        return INTERRUPTED_EXIT
    print()
    print(format_table(outcome.table))
    print()
    finished = len(outcome.table) - outcome.n_failed - outcome.n_unfinished
    print(f"{finished} trial(s) finished, {outcome.n_failed} failed")
    if outcome.n_unfinished:
        print(f"interrupted: {outcome.n_unfinished} trial(s) unfinished; continue with")
        print(f"  {_resume_command(args, outcome.out_dir)}")
    for trial, reason in outcome.errors.items():
        print(f"  failed {trial}: {reason}")
    print(f"results: {outcome.out_dir}")
    print(f"MLflow store: {outcome.tracking_uri} (experiment {spec.name!r})")
    if outcome.optuna_storage:
        print(f"Optuna study: optuna-dashboard {outcome.optuna_storage}")
    print(f"open the MLflow UI: {outcome.ui_command()}")
    if outcome.n_unfinished:
        return INTERRUPTED_EXIT
    return 1 if outcome.n_failed else 0


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    """The command that continues this launch: the same study, overrides and tracking."""
    words = ["aimstudy", "run", str(args.study), "--out", str(out), "--resume"]
    words += [f"--set={item}" for item in args.overrides]
    if args.tracking_uri:
        words += ["--tracking-uri", args.tracking_uri]
    if args.address:
        words += ["--address", args.address]
    return shlex.join(words)
