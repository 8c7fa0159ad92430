"""Study-platform overhead: wall time of a tiny grid study (4 trials) through Ray Tune + MLflow,
against the same trials run bare with `run_trial`. Run by hand:

    OMP_NUM_THREADS=1 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 .venv/bin/python benchmarks/bench_tune.py

Prints: spec validation time, Ray start, `run_study` wall time, bare `run_trial` time per trial,
and the platform's overhead per trial.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from aimstudy.train import run_trial
    from aimstudy.tune import run_study, validate_spec

    root = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    raw = {
        "name": "bench-tune",
        "dataset": {"name": "qm9", "tasks": "nashmtl11", "featurizer": "2d", "limit": 400,
                    "val_size": 50, "test_size": 50, "cache_dir": str(root / "cache")},
        "train": {"model": "gin", "model_options": {"hidden": 32, "layers": 2}, "epochs": 3,
                  "batch_size": 32, "patience": None, "diagnose_every": 5},
        "grid": {"method": ["ls", "aim-matrix"], "n_train": [200], "seed": [0, 1]},
        "resources": {"cpu": 1, "gpu": 0},
    }  # fmt: skip
    t0 = time.perf_counter()
    spec = validate_spec(raw)
    t_spec = time.perf_counter() - t0

    bare = []
    for cell in spec.cells():
        start = time.perf_counter()
        run_trial(spec.trial_config(cell), workdir=root / "bare" / str(len(bare)))
        bare.append(time.perf_counter() - start)

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t_ray = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcome = run_study(spec, root / "study", progress=False)
    t_study = time.perf_counter() - t0
    ray.shutdown()

    n = len(bare)
    print(f"spec validation          {t_spec:6.2f} s")
    print(f"bare run_trial, mean     {sum(bare) / n:6.2f} s per trial ({n} trials, sequential)")
    print(f"ray.init                 {t_ray:6.2f} s")
    print(f"run_study (2 parallel)   {t_study:6.2f} s for {len(outcome.table)} trials")
    print(f"overhead per trial       {(2 * t_study - sum(bare)) / n:6.2f} s (2 CPUs vs 1)")
    print(f"results in {root}")


if __name__ == "__main__":
    main()
