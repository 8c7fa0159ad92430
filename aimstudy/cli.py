"""The `aimstudy` command: one subcommand per module in `aimstudy.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand name -> module in aimstudy.commands exposing `register(subparsers)`.
# Imported lazily so `aimstudy --help` stays fast and a broken layer does not break the others.
SUBCOMMANDS = {
    "data": "Inspect a dataset: molecules kept and skipped, tasks, units, label density.",
    "train": "Train one trial (one method on one dataset configuration).",
    "run": "Run a study file with Ray Tune, tracked in MLflow.",
    "report": "Analyse a finished study: curves, statistics, policy figures.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimstudy",
        description="Studies of AIM (learned gradient intervention) and multi-task baselines.",
    )
    from aimstudy import __version__

    parser.add_argument("--version", action="version", version=f"aimstudy {__version__}")
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
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Every layer reports bad input as ValueError/FileNotFoundError naming what and where:
        # one line. Anything else is a bug and keeps its traceback.
        message = str(exc).strip() or type(exc).__name__
        print(f"aimstudy {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aimstudy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
