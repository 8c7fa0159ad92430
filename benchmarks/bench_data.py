"""Data layer speed: cold featurization (time, peak memory, cache size) and warm cache loads.

Each stage runs in a fresh child process, so its peak resident memory (ru_maxrss) is its own:
- ``cold``: read the QM9 table and featurize the whole pool into an empty cache;
- ``warm``: read the table (no geometry) and load the same pool from the cache (memory-mapped);
- ``prepare``: a full warm ``prepare`` (split, n_train subset, scaler).

Run by hand (all of QM9, 3-D then 2-D; takes several minutes):
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data.py``; ``--limit 5000`` for a quick run.
Figures go to benchmarks/README.md ("data" section).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stage(name: str, featurizer: str, limit: int | None, cache: Path) -> dict[str, float]:
    """Run one stage in this process and return its figures."""
    import torch

    torch.set_num_threads(1)
    from aimstudy.data import DataConfig, prepare
    from aimstudy.data._prepare import featurize_pool, pool_rows
    from aimstudy.data._registry import load_dataset

    cfg = DataConfig(name="qm9", featurizer=featurizer, limit=limit, cache_dir=cache)
    start = time.perf_counter()
    out: dict[str, float] = {}
    if name == "prepare":
        data = prepare(cfg, n_train=min(10_000, int(0.7 * (limit or 130_831))), seed=0)
        out["molecules"] = data.n_molecules
        out["skipped"] = data.n_skipped
    else:
        table = load_dataset(cfg, geometry=name == "cold" and featurizer == "3d")
        pool = table.take(pool_rows(len(table), limit))
        out["read_table_s"] = time.perf_counter() - start
        graphs, kept, skipped, path, hit = featurize_pool(pool, featurizer, cache)
        assert hit == (name == "warm"), f"{name}: cache hit={hit}"
        out["molecules"] = len(kept)
        out["skipped"] = skipped
        out["cache_mb"] = path.stat().st_size / 2**20
        out["graphs_per_s"] = len(kept) / (time.perf_counter() - start - out["read_table_s"])
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(name: str, featurizer: str, limit: int | None, cache: Path) -> dict[str, float]:
    """The stage in a fresh interpreter (its own peak memory)."""
    cmd = [sys.executable, __file__, "--stage", name, "--featurizer", featurizer,
           "--cache-dir", str(cache)]  # fmt: skip
    if limit:
        cmd += ["--limit", str(limit)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--featurizer", choices=["3d", "2d", "both"], default="both")
    parser.add_argument("--limit", type=int, help="QM9 subsample (default: all 130,831)")
    parser.add_argument("--cache-dir", type=Path, help="keep the cache here (default: temp)")
    parser.add_argument("--stage", choices=["cold", "warm", "prepare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, args.featurizer, args.limit, args.cache_dir)))
        return
    kinds = ["3d", "2d"] if args.featurizer == "both" else [args.featurizer]
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or Path(tmp)
        for kind in kinds:
            for name in ("cold", "warm", "prepare"):
                figures = run_child(name, kind, args.limit, cache)
                shown = ", ".join(f"{k}={v:,.2f}" for k, v in figures.items())
                print(f"qm9 {kind} limit={args.limit or 'all'} {name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
