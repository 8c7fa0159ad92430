"""Epoch time of the trainer on 10k QM9 molecules, for `ls` and `aim-matrix` (run by hand).

A full MPNN epoch on 3-D QM9 graphs takes minutes to hours on a CPU, so this times `--steps`
real optimisation steps (after one warm-up step) on the 10k training subset and extrapolates
to one epoch (steps per epoch × seconds per step), plus the evaluation forward pass on the
validation set, per 1,000 molecules. Results go to stdout as a Markdown table.

    .venv/bin/python benchmarks/bench_train.py --models mpnn,gin --threads 1 \
        --methods "ls;aim-matrix;aim-matrix:grad_at=representation,guide_mode=none" --steps 5

Like `run_trial` it keeps glibc's freed memory (`aimstudy.train._memory`); `--threads` is the
torch thread count (a study trial gets its `resources.cpu`, `aimstudy train` every core).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
import yaml

from aimstudy.data import DataConfig
from aimstudy.train import TrialConfig
from aimstudy.train._diagnostics import EpochDiagnostics
from aimstudy.train._loaders import epoch_batches
from aimstudy.train._memory import keep_freed_memory
from aimstudy.train._metrics import absolute_errors
from aimstudy.train._trial import _Trial

FEATURIZER = {"mpnn": "3d", "gin": "2d", "attentivefp": "2d"}


def parse_method(text: str) -> tuple[str, dict[str, object]]:
    """ "aim-matrix:grad_at=representation,guide_mode=none" -> name and options."""
    name, _, rest = text.partition(":")
    opts = dict(item.split("=", 1) for item in rest.split(",") if item)
    return name, {k: yaml.safe_load(v) for k, v in opts.items()}


def bench(model: str, method: str, args: argparse.Namespace) -> dict[str, float]:
    """Seconds per step, extrapolated epoch seconds and eval seconds per 1,000 molecules."""
    method, options = parse_method(method)
    data = DataConfig(
        name="qm9",
        featurizer=FEATURIZER[model],
        limit=args.n_train + 2000,
        val_size=1000,
        test_size=1000,
    )
    cfg = TrialConfig(
        dataset=data,
        method=method,
        method_options=options,
        model=model,
        n_train=args.n_train,
        batch_size=args.batch_size,
        epochs=1,
        threads=args.threads,
    )
    with tempfile.TemporaryDirectory() as tmp:
        trial = _Trial(cfg, Path(tmp), [])
    batches = epoch_batches(trial.train_set, cfg.batch_size, cfg.seed, 1)
    diag = EpochDiagnostics()
    trial.state.model.train()
    trial._step(next(batches), 1, 1, cfg.lr, diag)  # warm-up
    t0 = time.perf_counter()
    for step in range(args.steps):
        trial._step(next(batches), 1, step + 2, cfg.lr, diag)
    per_step = (time.perf_counter() - t0) / args.steps
    n_steps = math.ceil(len(trial.train_set) / cfg.batch_size)
    t1 = time.perf_counter()
    val = epoch_batches(trial.data.val, cfg.eval_batch_size, 0, 0, shuffle=False)
    absolute_errors(trial.state.model, val, trial.mean, trial.std, trial.device)
    eval_per_1k = (time.perf_counter() - t1) / len(trial.data.val) * 1000
    return {
        "s_per_step": per_step,
        "steps": n_steps,
        "epoch_s": per_step * n_steps,
        "eval_s_per_1k": eval_per_1k,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mpnn,gin")
    p.add_argument("--methods", default="ls;aim-matrix", help="';'-separated, name[:key=value,...]")
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(
        f"n_train={args.n_train}, batch {args.batch_size}, {args.steps} timed steps, "
        f"{args.threads} thread(s)"
    )
    print("| model | method | s/step | steps/epoch | epoch (extrapolated) | eval s / 1k mols |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for method in args.methods.split(";"):
            r = bench(model, method, args)
            print(
                f"| {model} | {method} | {r['s_per_step']:.3f} | {r['steps']} | "
                f"{r['epoch_s']:.0f} s ({r['epoch_s'] / 60:.1f} min) | {r['eval_s_per_1k']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
