"""`aimstudy export MODEL --out DIR`: the best trial of a study as an MLflow model folder
(`DIR/model`, loadable with `mlflow.pyfunc.load_model` and servable with `mlflow models
serve`) and its resolved trial config (`DIR/config.yaml`, which `aimstudy train --config`
takes), so the chosen configuration can be retrained or shipped."""

from __future__ import annotations

import argparse
from pathlib import Path

from aimstudy.commands.predict import MODEL_HELP, add_model_options, model_options

MODEL_DIR = "model"


def register(subparsers: argparse._SubParsersAction, summary: str) -> None:
    """Add the `export` subcommand."""
    p = subparsers.add_parser("export", help=summary, description=summary)
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--out", type=Path, required=True, help="folder for model/ and config.yaml")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve MODEL, check its checkpoint predicts, write DIR/model and DIR/config.yaml."""
    from aimstudy.commands._models import open_model
    from aimstudy.predict import load_predictor
    from aimstudy.tracking import save_trial_model
    from aimstudy.train import CONFIG_FILE, TrialFolder

    out = Path(args.out)
    taken = [name for name in (MODEL_DIR, CONFIG_FILE) if (out / name).exists()]
    if taken:
        raise ValueError(f"--out {out}: already holds {', '.join(taken)}; choose another folder")
    with open_model(args.model, **model_options(args)) as source:
        predictor = load_predictor(source.checkpoint, "cpu")  # refuses what cannot predict
        out.mkdir(parents=True, exist_ok=True)
        save_trial_model(source.checkpoint, out / MODEL_DIR, predictor.task_names)
    config = TrialFolder(out).write_config(predictor.config)
    print(f"exported {source.description} (best epoch {predictor.epoch})")
    print(f"  model:  {out / MODEL_DIR}  (mlflow models serve -m {out / MODEL_DIR} ...)")
    print(f"  config: {config}  (aimstudy train --config {config} --out ...)")
    return 0
