"""Epoch time of the trainer on 10k QM9 molecules, for `ls` and `aim-matrix` (run by hand).

A full MPNN epoch on 3-D QM9 graphs takes minutes to hours on a CPU, so this times `--steps`
real optimisation steps (after one warm-up step) on the 10k training subset, the methods'
steps interleaved round-robin (median per step, and its ratio to the first method), and
extrapolates to one epoch (steps per epoch × seconds per step), plus the evaluation forward
pass on the validation set, per 1,000 molecules. Results go to stdout as a Markdown table.

    .venv/bin/python benchmarks/bench_train.py --models mpnn,gin --threads 1 \
        --methods "ls;aim-matrix;aim-matrix:grad_at=representation,guide_mode=none" --steps 5

AIM's own overhead (issue 15): `--methods "pcgrad;aim-matrix;aim-matrix:guide_mode=none"`.

Like `run_trial` it keeps glibc's freed memory (`aimstudy.train._memory`); `--threads` is the
torch thread count (a study trial gets its `resources.cpu`, `aimstudy train` every core).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def build(model: str, method: str, args: argparse.Namespace) -> tuple[_Trial, Iterator[Any]]:
    """A trial of `method` on `model` and its first epoch's batches, after one warm-up step."""
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
    trial.state.model.train()
    trial._step(next(batches), 1, 1, cfg.lr, EpochDiagnostics())  # warm-up
    return trial, batches


def bench(model: str, methods: list[str], args: argparse.Namespace) -> list[dict[str, float]]:
    """Per method: median seconds per step (batch collation included), extrapolated epoch
    seconds, eval seconds per 1,000 molecules. The methods' steps are interleaved round-robin,
    so a drift of the machine's speed hits them alike and their ratios hold."""
    built = [build(model, method, args) for method in methods]
    times: list[list[float]] = [[] for _ in methods]
    for step in range(args.steps):
        for (trial, batches), spent in zip(built, times, strict=True):
            t0 = time.perf_counter()
            trial._step(next(batches), 1, step + 2, trial.config.lr, EpochDiagnostics())
            spent.append(time.perf_counter() - t0)
    rows = []
    for (trial, _), spent in zip(built, times, strict=True):
        per_step = statistics.median(spent)
        n_steps = math.ceil(len(trial.train_set) / trial.config.batch_size)
        t1 = time.perf_counter()
        val = epoch_batches(trial.data.val, trial.config.eval_batch_size, 0, 0, shuffle=False)
        absolute_errors(trial.state.model, val, trial.mean, trial.std, trial.device)
        eval_per_1k = (time.perf_counter() - t1) / len(trial.data.val) * 1000
        rows.append(
            {
                "s_per_step": per_step,
                "steps": n_steps,
                "epoch_s": per_step * n_steps,
                "eval_s_per_1k": eval_per_1k,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mpnn,gin")
    p.add_argument("--methods", default="ls;aim-matrix", help="';'-separated, name[:key=value,...]")
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="timed steps per method")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(
        f"n_train={args.n_train}, batch {args.batch_size}, {args.steps} timed steps, "
        f"{args.threads} thread(s)"
    )
    print(
        "| model | method | s/step (median) | × first method | steps/epoch "
        "| epoch (extrapolated) | eval s / 1k mols |"
    )
    print("|---|---|---|---|---|---|---|")
    methods = args.methods.split(";")
    for model in args.models.split(","):
        rows = bench(model, methods, args)
        for method, r in zip(methods, rows, strict=True):
            ratio = r["s_per_step"] / rows[0]["s_per_step"]
            print(
                f"| {model} | {method} | {r['s_per_step']:.3f} | {ratio:.3f} | {r['steps']} | "
                f"{r['epoch_s']:.0f} s ({r['epoch_s'] / 60:.1f} min) | {r['eval_s_per_1k']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
