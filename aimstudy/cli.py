"""The `aimstudy` command: one subcommand per module in `aimstudy.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# Subcommand name -> module in aimstudy.commands exposing `register(subparsers)`.
# Imported lazily so `aimstudy --help` stays fast and a broken layer does not break the others.
SUBCOMMANDS = {
    "list": "List the methods, models or datasets with their options and defaults.",
    "data": "Inspect a dataset: molecules kept and skipped, tasks, units, label density.",
    "train": "Train one trial (one method on one dataset configuration).",
    "run": "Run a study file with Ray Tune, tracked in MLflow.",
    "report": "Analyse a finished study: curves, statistics, policy figures.",
    "predict": "Predict a table of SMILES with a trained trial, a study's best trial or a run.",
    "export": "Write a study's best trial as an MLflow model folder and its trial config.",
}

_log = logging.getLogger("aimstudy")

# Libraries whose INFO lines -q hides: logger -> (variable, value) each reads for its level when
# imported (Ray again in `ray.init`), so the level holds when they are imported later, and in
# the processes they start.
_QUIET_LIBRARIES = {
    "ray": ("RAY_LOGGER_LEVEL", "warning"),
    "mlflow": ("MLFLOW_LOGGING_LEVEL", "WARNING"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimstudy",
        description="Studies of AIM (learned gradient intervention) and multi-task baselines.",
    )
    from aimstudy import __version__

    parser.add_argument("--version", action="version", version=f"aimstudy {__version__}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show aimstudy's debug messages, and the traceback of an input error",
    )
    loudness.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="warnings, errors and results only: no progress, no INFO lines of Ray or MLflow",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"aimstudy.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"aimstudy.commands.{name}":
                raise
            continue  # subcommand not built yet
        module.register(subparsers, summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_verbosity(args)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Every layer reports bad input as ValueError/FileNotFoundError naming what and where:
        # one line (its traceback with -v). Anything else is a bug and keeps its traceback.
        _log.debug("traceback of the error below", exc_info=True)
        message = str(exc).strip() or type(exc).__name__
        print(f"aimstudy {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aimstudy {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`aimstudy list methods | head`): stop quietly, as a program
        # killed by SIGPIPE would; stdout goes to devnull so the exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def set_verbosity(args: argparse.Namespace) -> None:
    """Apply -v / -q before the subcommand runs; neither leaves every default as it was.

    -v: aimstudy's loggers at DEBUG, on stderr. -q: aimstudy, Ray and MLflow at WARNING, and
    the subcommand's `--no-progress` (where it has one) turned on.
    """
    if args.verbose:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        _log.setLevel(logging.DEBUG)
    elif args.quiet:
        _log.setLevel(logging.WARNING)
        for logger, (variable, value) in _QUIET_LIBRARIES.items():
            os.environ[variable] = value
            logging.getLogger(logger).setLevel(logging.WARNING)  # if it is imported already
        if hasattr(args, "no_progress"):
            args.no_progress = True


if __name__ == "__main__":
    raise SystemExit(main())
