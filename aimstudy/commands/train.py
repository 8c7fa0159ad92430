"""`aimstudy train`: run one trial from flags or a YAML file, with a progress bar."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

# QM9 has 130,831 molecules: 10% val/test would be 13k graphs each, evaluated every epoch, and
# featurizing all of it takes minutes. CLI runs default to a fixed 12,000-molecule pool (the same
# pool, val and test sets for every n_train up to 10,000) with 1,000 val and 1,000 test molecules;
# larger n_train uses the whole dataset. Study specs set their own.
QM9_EVAL_SIZE = 1000
QM9_CLI_POOL = 12_000
# Backbones built for 2-D graphs (heavy atoms, bonds): "auto" would give them 3-D QM9 graphs.
FEATURIZER_2D_MODELS = ("gin", "attentivefp")


def register(subparsers: Any, summary: str) -> None:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train",
        help=summary,
        description=summary + " Flags override the values of --config; --set overrides both.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="YAML file with a TrialConfig (flags override it)")
    p.add_argument(
        "--out", type=Path, required=True, help="output folder (resumes if it holds a checkpoint)"
    )
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="dataset name (qm9, biogen, csv, ...)")
    d.add_argument("--tasks", help="task set name or comma-separated task names")
    d.add_argument(
        "--featurizer", choices=["auto", "2d", "3d"], help="default: 2d for gin/attentivefp"
    )
    d.add_argument("--data-path", type=Path, help="data file (csv; biogen: its shipped copy)")
    d.add_argument(
        "--limit",
        type=int,
        help=f"subsample the dataset first (qm9 with n_train <= 10000: {QM9_CLI_POOL})",
    )
    d.add_argument("--split", choices=["random", "scaffold", "column"])
    d.add_argument("--split-column", help="with --split column: the column of train/val/test")
    d.add_argument("--val-size", type=float, help=f"fraction (<1) or count; qm9: {QM9_EVAL_SIZE}")
    d.add_argument("--test-size", type=float, help=f"fraction (<1) or count; qm9: {QM9_EVAL_SIZE}")
    d.add_argument("--n-train", type=int, help="training budget (molecules drawn from train)")
    d.add_argument("--guidance-fraction", type=float, help="share of n_train held out for guidance")
    m = p.add_argument_group("method and model")
    m.add_argument("--method", help="MTL method (see `aimstudy list methods`)")
    m.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, value parsed as YAML (repeatable)",
    )
    m.add_argument("--model", help="backbone: mpnn, gin, attentivefp")
    m.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option, value parsed as YAML (repeatable)",
    )
    t = p.add_argument_group("training")
    t.add_argument("--seed", type=int)
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--loss", choices=["mse", "l1"])
    t.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    t.add_argument("--device", help="auto, cpu or cuda[:i]")
    t.add_argument(
        "--threads", type=int, help="torch threads (default: every core this process may use)"
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any TrialConfig option by its dotted path, value parsed as YAML, as "
        "`aimstudy run --set` does (repeatable), e.g. --set dataset.split=scaffold "
        "--set method_options.lambda_g=0",
    )
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> Any:
    """The TrialConfig from --config, the flags and --set (in that order, the later wins);
    errors name the bad key as `aimstudy run` does."""
    from pydantic import ValidationError

    from aimstudy.train import TrialConfig, describe_error

    raw = _read_yaml(args.config) if args.config else {}
    data = dict(raw.get("dataset") or {})
    for flag, key in [
        ("dataset", "name"),
        ("featurizer", "featurizer"),
        ("data_path", "path"),
        ("limit", "limit"),
        ("split", "split"),
        ("split_column", "split_column"),
        ("val_size", "val_size"),
        ("test_size", "test_size"),
    ]:
        if getattr(args, flag) is not None:
            data[key] = getattr(args, flag)
    if args.tasks is not None:
        data["tasks"] = args.tasks.split(",") if "," in args.tasks else args.tasks
    raw["dataset"] = data
    for flag in [
        "method",
        "model",
        "n_train",
        "guidance_fraction",
        "seed",
        "epochs",
        "batch_size",
        "lr",
        "loss",
        "patience",
        "device",
        "threads",
    ]:
        if getattr(args, flag) is not None:
            raw[flag] = getattr(args, flag)
    raw.setdefault("method_options", {})
    raw.setdefault("model_options", {})
    _assign(raw, args.method_option, "--method-option", "method_options.")
    _assign(raw, args.model_option, "--model-option", "model_options.")
    _assign(raw, args.overrides, "--set")
    _defaults(raw)
    try:
        return TrialConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(describe_error(exc, TrialConfig)) from None


def _defaults(raw: dict[str, Any]) -> None:
    """Quick-run defaults for keys the user left out (see QM9_CLI_POOL, FEATURIZER_2D_MODELS).

    One trial has the machine to itself, so it gets every usable core (a study's trials get
    their `resources.cpu` instead).
    """
    raw.setdefault("threads", _usable_cores())
    data = raw["dataset"]
    if raw.get("model", "mpnn") in FEATURIZER_2D_MODELS:
        data.setdefault("featurizer", "2d")
    if data.get("name", "qm9") == "qm9":
        data.setdefault("val_size", QM9_EVAL_SIZE)
        data.setdefault("test_size", QM9_EVAL_SIZE)
        n_train = raw.get("n_train")
        if n_train is not None and n_train <= QM9_CLI_POOL - 2 * QM9_EVAL_SIZE:
            data.setdefault("limit", QM9_CLI_POOL)


def _usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    """Validate, train, print a summary. NaN losses exit 1 with one line; finished epochs stay."""
    from aimstudy.train import NonFiniteLossError, run_trial, validate_config

    config = build_config(args)
    validate_config(config)
    units = TaskUnits()
    callbacks = [units] if args.no_progress else [units, ProgressBar()]
    try:
        result = run_trial(config, args.out, callbacks)
    except NonFiniteLossError as exc:
        print(f"aimstudy train: error: {exc}; finished epochs are in {args.out}", file=sys.stderr)
        return 1
    finally:
        for cb in callbacks:
            cb.close()
    _summary(result, units.report_units)
    return 0


class TaskUnits:
    """Remembers each task's report unit, so the summary can print MAEs with their units."""

    def __init__(self) -> None:
        self.report_units: dict[str, str] = {}

    def on_start(self, config: Any, tasks: Any) -> None:
        self.report_units = {t.name: t.report_unit for t in tasks}

    def close(self) -> None:
        pass


class ProgressBar:
    """A tqdm bar over all steps of the trial, with the latest val norm_mae as postfix."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.epochs = 0

    def on_start(self, config: Any, tasks: Any) -> None:
        self.epochs = config.epochs

    def on_step_end(self, epoch: int, step: int, n_steps: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            left = (self.epochs - epoch + 1) * n_steps
            self.bar = tqdm(total=left, unit="step", dynamic_ncols=True, file=sys.stderr)
        self.bar.set_description(f"epoch {epoch}/{self.epochs}")
        self.bar.update(1)

    def on_epoch_end(self, report: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(val_norm_mae=f"{report.metrics['val/norm_mae']:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _summary(result: Any, units: dict[str, str]) -> None:
    from aimstudy.train import best_key

    m, nan = result.metrics, float("nan")
    val, test = m.get(best_key("val/norm_mae"), nan), m.get(best_key("test/norm_mae"), nan)
    print(f"best epoch {result.best_epoch}: val norm_mae {val:.4f}, test norm_mae {test:.4f}")
    for t in result.task_names:
        mae = m.get(best_key(f"test/mae/{t}"), nan)
        print(f"  {t:>12s}  test MAE {mae:.4g} {units.get(t, '')}".rstrip())
    print(f"wrote {result.workdir}/config.yaml, metrics.parquet, policy.parquet, checkpoints/")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"--config: {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"--config: {path} must hold a mapping of TrialConfig keys")
    return raw


def _assign(raw: dict[str, Any], items: list[str], flag: str, prefix: str = "") -> None:
    """Apply `KEY=VALUE` flags to `raw` by dotted path (`prefix` + KEY), values parsed as YAML:
    the parser and the paths of `aimstudy run --set`."""
    from aimstudy.train import parse_assignment, set_path

    for item in items:
        key, value = parse_assignment(item, flag)
        set_path(raw, prefix + key, value)
