"""Time per training step of MTL methods on the benchmark MPNN with the 11 QM9 tasks (3-D graphs).

Measures, side by side in one run (methods interleaved round-robin, so a busy neighbour on the
shared CPU hits them all alike):
- a full step (forward, ``method.backward``, Adam step) for ``ls``, ``pcgrad``, ``aim-scalar`` and
  ``aim-matrix`` with each ``guide_mode``, at each batch size;
- the task-gradient engines (``loop``, ``torchjd``, optionally ``batched``) alone, and torchjd's
  ``autogram`` Gramian engine where the model supports it;
- AIM's own work on top of the Jacobian: the Gram form vs the Jacobian form of the intervention.

Run by hand: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_mtl.py [--batch-sizes 32 120]``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.func import functional_call
from torch_geometric.loader import DataLoader

from aimstudy.data import DataConfig, prepare
from aimstudy.models import build_model
from aimstudy.mtl import StepInputs, get, gram_weights, intervene, task_gradients

METHODS: list[tuple[str, str, dict[str, Any]]] = [
    ("ls", "ls", {}),
    ("pcgrad", "pcgrad", {}),
    ("aim-scalar/none", "aim-scalar", {"guide_mode": "none"}),
    ("aim-scalar/align", "aim-scalar", {"guide_mode": "align"}),
    ("aim-scalar/lookahead", "aim-scalar", {"guide_mode": "lookahead"}),
    ("aim-matrix/none", "aim-matrix", {"guide_mode": "none"}),
    ("aim-matrix/align", "aim-matrix", {"guide_mode": "align"}),
    ("aim-matrix/lookahead", "aim-matrix", {"guide_mode": "lookahead"}),
]


def masked_losses(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-task MSE over labelled entries [T] (targets roughly standardized by the caller)."""
    m = mask.to(pred.dtype)
    return (((pred - y) ** 2) * m).sum(0) / m.sum(0).clamp_min(1.0)


class Bench:
    """One model, one primary and one guidance batch per batch size; timing helpers."""

    def __init__(self, n_mol: int, seed: int) -> None:
        cfg = DataConfig(name="qm9", tasks="nashmtl11", limit=n_mol)
        self.data = prepare(cfg, n_train=None, guidance_fraction=0.1, seed=seed)
        torch.manual_seed(seed)
        self.model = build_model(
            "mpnn", node_dim=self.data.node_dim, edge_dim=self.data.edge_dim, n_tasks=11
        )
        ys = torch.cat([g.y for g in self.data.train])  # [N, T]
        self.mean, self.std = ys.mean(0), ys.std(0).clamp_min(1e-6)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def batches(self, batch_size: int) -> tuple[Any, Any]:
        primary = next(iter(DataLoader(self.data.train, batch_size=batch_size, shuffle=False)))
        guide = next(iter(DataLoader(self.data.guide, batch_size=batch_size, shuffle=False)))
        return primary, guide

    def losses(self, batch: Any, params: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task losses [T] and the representation [B, H]."""
        model = self.model
        if params:
            pred = functional_call(model, params, (batch,))
            return masked_losses(pred, (batch.y - self.mean) / self.std, batch.y_mask), pred
        z = model.encode(batch)
        pred = model.predict_from(z)
        return masked_losses(pred, (batch.y - self.mean) / self.std, batch.y_mask), z

    def step(self, method: Any, primary: Any, guide: Any) -> None:
        """One full training step, as the trainer does it."""
        losses, z = self.losses(primary)
        named = self.model.shared_named_parameters()
        self.opt.zero_grad(set_to_none=True)
        method.backward(
            StepInputs(
                losses=losses,
                shared_params=[p for _, p in named],
                head_params=self.model.task_parameters(),
                representation=z,
                guide_losses=lambda o: self.losses(guide, o)[0],
                shared_param_names=[n for n, _ in named],
                lr=1e-3,
            )
        )
        self.opt.step()

    def jacobian(self, primary: Any, engine: str) -> torch.Tensor:
        losses, _ = self.losses(primary)
        present = torch.ones(11, dtype=torch.bool)
        G, _ = task_gradients(losses, present, self.model.shared_parameters(), (), engine)
        return G


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def round_robin(
    cases: dict[str, Callable[[], Any]], reps: int, warmup: bool = True
) -> dict[str, list[float]]:
    """Run every case once per round (after one warm-up each); return the timings."""
    for fn in cases.values() if warmup else ():
        fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            out[name].append(timed(fn))
    return out


def autogram_case(bench: Bench, primary: Any) -> Callable[[], Any] | None:
    """torchjd's autogram Gramian of the 11 losses w.r.t. the encoder, if the model allows it."""
    try:
        from torchjd.autogram import Engine

        # on a copy: autogram's hooks stay on the modules (and keep activations) if it fails
        model = copy.deepcopy(bench.model)
        modules = [m for n, m in model.named_children() if n != "heads"]
        engine = Engine(*modules, batch_dim=None)
        y = (primary.y - bench.mean) / bench.std

        def run() -> torch.Tensor:
            return engine.compute_gramian(masked_losses(model(primary), y, primary.y_mask))

        K = run()
        G = bench.jacobian(primary, "loop")
        err = float((K - G @ G.T).abs().max() / (G @ G.T).abs().max())
        print(f"autogram Gramian: relative max error vs loop {err:.2e}")
        return run
    except Exception as exc:  # report why it does not apply, keep benchmarking the rest
        print(f"autogram engine not usable on this model: {type(exc).__name__}: {exc}")
        return None


def report(
    title: str,
    timings: dict[str, list[float]],
    ref: str,
    inner: dict[str, list[float]] | None = None,
) -> None:
    """Markdown table: min and median per case, their ratio to ``ref``; with ``inner`` (the
    engine's share of each step, timed inside the same step) also the step time beyond it."""
    med = {k: statistics.median(v) for k, v in timings.items()}
    low = {k: min(v) for k, v in timings.items()}
    extra = " | engine s (median) | beyond engine s" if inner else ""
    print(
        f"\n### {title}\n\n| case | min s | median s | runs | min x {ref} | median x {ref}{extra} |"
    )
    print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if inner else ""))
    for k in timings:
        row = f"| {k} | {low[k]:.3f} | {med[k]:.3f} | {len(timings[k])} "
        row += f"| {low[k] / low[ref]:.2f} | {med[k] / med[ref]:.2f} |"
        if inner and inner.get(k):
            beyond = [t - e for t, e in zip(timings[k], inner[k][-len(timings[k]) :], strict=True)]
            row += f" {statistics.median(inner[k]):.3f} | {statistics.median(beyond):.3f} |"
        elif inner:
            row += " - | - |"
        print(row)


def engine_timer(method: Any, sink: list[float]) -> None:
    """Record the time of the task-gradient engine inside each ``backward`` of ``method``."""
    if not hasattr(method, "_task_gradients"):
        return
    inner = method._task_gradients

    def timed_engine(*args: Any) -> Any:
        t0 = time.perf_counter()
        out = inner(*args)
        sink.append(time.perf_counter() - t0)
        return out

    method._task_gradients = timed_engine


def bench_intervention(bench: Bench, primary: Any) -> None:
    """AIM's own work on the real Jacobian: Gram form vs Jacobian form (forward + backward)."""
    G = bench.jacobian(primary, "loop")  # [11, d]
    tau = torch.zeros(11, 11, requires_grad=True)

    def gram() -> None:
        w, _, _ = gram_weights(G @ G.T, tau)
        (w @ (G @ G.T) @ w).backward()

    def jac() -> None:
        g_int, _ = intervene(G, tau)
        (g_int @ g_int).backward()

    t = round_robin({"gram form": gram, "jacobian form": jac}, reps=5)
    report(f"AIM intervention on the [11, {G.shape[1]}] Jacobian", t, "jacobian form")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 120])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--molecules", type=int, default=1000)
    ap.add_argument("--batched", action="store_true", help="also time is_grads_batched (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--autogram", action="store_true", help="also try torchjd's autogram")
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up round")
    ap.add_argument("--no-engines", action="store_true", help="skip the engine table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench = Bench(args.molecules, args.seed)
    n_shared = sum(p.numel() for p in bench.model.shared_parameters())
    print(f"MPNN: {n_shared} shared parameters; torch threads: {torch.get_num_threads()}")
    for bs in args.batch_sizes:
        run_batch_size(bench, bs, args)
        if bs == args.batch_sizes[0] and not args.no_engines:
            bench_intervention(bench, bench.batches(bs)[0])


def run_batch_size(bench: Bench, bs: int, args: argparse.Namespace) -> None:
    """Engines, then full steps of every method, at one batch size."""
    primary, guide = bench.batches(bs)
    print(f"\n## batch {bs}: {primary.num_nodes} nodes, {primary.num_edges} edges")
    engines = {e: (lambda e=e: bench.jacobian(primary, e)) for e in ("loop", "torchjd")}
    if args.batched:
        engines["batched"] = lambda: bench.jacobian(primary, "batched")
    gram = autogram_case(bench, primary) if args.autogram else None
    if gram is not None:
        engines["autogram (Gramian only)"] = gram
    warm = bs == args.batch_sizes[0] and not args.no_warmup
    if not args.no_engines:
        report(f"gradient engines, batch {bs}", round_robin(engines, args.reps, warm), "torchjd")
    methods = {label: get(name, 11, **opts) for label, name, opts in METHODS}
    inner: dict[str, list[float]] = {k: [] for k in methods}
    for k, m in methods.items():
        if k != "ls":
            engine_timer(m, inner[k])
    cases = {k: (lambda m=m: bench.step(m, primary, guide)) for k, m in methods.items()}
    report(f"training step, batch {bs}", round_robin(cases, args.reps, warm), "pcgrad", inner)


if __name__ == "__main__":
    main()
