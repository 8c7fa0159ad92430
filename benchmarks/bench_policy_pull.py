"""How hard each term of AIM's policy objective pulls on τ, on real QM9 task gradients (issue 11).

Two measurements, both on 2-D QM9 graphs with the package's own data, GIN and trainer machinery:

1. **Pull** of each term at the given options: ``λ_term × ||∂term/∂τ||`` at τ = ``tau_init``, for
   the guidance term (``align`` and ``lookahead``, ``guide_reduce`` mean and sum), the magnitude
   term and the progress term, median over a few primary/guidance batch pairs, for a freshly
   initialised GIN and for the GIN at the end of the default trial below. Also ``lookahead``'s
   pull against ``lookahead_step`` η, with its cosine to ``align``'s gradient in τ (first order:
   lookahead ≈ η × align).
2. **Trial**: a short ``run_trial`` at the defaults and with each term switched off alone
   (``lambda_g=0``, ``lambda_m=0``, ``lambda_p=0``); reports ``||τ_full − τ_off||`` per term and
   its ratio to the guidance one (the issue's bar: every ratio > 0.1).

Run by hand: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_policy_pull.py`` (about two
minutes on one core); ``--help`` lists the knobs. Results go to stdout as Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.func import functional_call

from aimstudy import mtl
from aimstudy.data import DataConfig, PreparedData, prepare
from aimstudy.models import build_model
from aimstudy.train import TrialConfig, masked_task_losses, run_trial
from aimstudy.train._loaders import GuidanceStream, epoch_batches

TERMS = (("loss_guide", "lambda_g"), ("loss_magnitude", "lambda_m"), ("loss_progress", "lambda_p"))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=700, help="QM9 pool size (molecules)")
    p.add_argument("--n-train", type=int, default=500, help="training subset (10%% guidance)")
    p.add_argument("--batches", type=int, default=4, help="batch pairs for the pull medians")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3, help="epochs of each short trial")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=["aim-matrix", "aim-scalar"])
    p.add_argument(
        "--etas",
        nargs="+",
        type=float,
        default=[1e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 3e-3, 1e-2],
        help="lookahead_step values for the lookahead table",
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an AIM option for every measurement (e.g. lambda_p=0.1); repeatable",
    )
    p.add_argument("--no-trial", action="store_true", help="only the pulls at initialisation")
    return p.parse_args()


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to AIM options (numbers and booleans parsed)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            with contextlib.suppress(ValueError):
                value = float(raw)
        out[key] = value
    return out


class Batches:
    """The trainer's first primary batches and guidance batches, as ``StepInputs`` factories."""

    def __init__(self, data: PreparedData, batch_size: int, seed: int, n: int) -> None:
        self.mean = torch.as_tensor(data.scaler.mean, dtype=torch.float32)  # [T]
        self.std = torch.as_tensor(data.scaler.std, dtype=torch.float32)  # [T]
        primary = epoch_batches(data.train, batch_size, seed, 1)
        stream = GuidanceStream(data.guide, batch_size, seed)
        self.pairs = [(next(primary), stream.next()) for _ in range(n)]

    def inputs(self, model: Any, i: int) -> mtl.StepInputs:
        """What the trainer would hand the method for pair ``i`` (no optimizer involved)."""
        batch, guide = self.pairs[i]
        z = model.encode(batch)  # [B, H]
        losses, present = masked_task_losses(
            model.predict_from(z), (batch.y - self.mean) / self.std, batch.y_mask
        )
        g_target = (guide.y - self.mean) / self.std

        def guide_losses(override: dict[str, Tensor] | None = None) -> Tensor:
            pred = model(guide) if not override else functional_call(model, override, (guide,))
            return masked_task_losses(pred, g_target, guide.y_mask)[0]

        named = model.shared_named_parameters()
        return mtl.StepInputs(
            losses=losses,
            present=present,
            shared_params=[p for _, p in named],
            head_params=model.task_parameters(),
            representation=z,
            guide_losses=guide_losses,
            shared_param_names=[k for k, _ in named],
        )


def pulls(method: mtl.AIM, inputs: mtl.StepInputs) -> tuple[dict[str, float], Tensor]:
    """``λ × ||∂term/∂τ||`` per term at τ = tau_init, and the guidance term's raw gradient."""
    tau = method.policy.tau.detach().clone().requires_grad_(True)
    terms = method.policy_terms(inputs, tau)
    out: dict[str, float] = {}
    g_guide = torch.zeros_like(tau)
    for term, lam in TERMS:
        (grad,) = torch.autograd.grad(
            terms[term], [tau], retain_graph=True, allow_unused=True, materialize_grads=True
        )
        out[term] = getattr(method, lam) * float(grad.norm())
        if term == "loss_guide":
            g_guide = grad
    return out, g_guide


def median_pulls(
    name: str, opts: dict[str, Any], model: Any, batches: Batches
) -> tuple[dict[str, float], list[Tensor]]:
    method = mtl.get(name, len(batches.mean), **opts)
    rows, grads = [], []
    for i in range(len(batches.pairs)):
        row, g = pulls(method, batches.inputs(model, i))  # type: ignore[arg-type]
        rows.append(row)
        grads.append(g)
    return {t: statistics.median(r[t] for r in rows) for t, _ in TERMS}, grads


def pull_table(model: Any, batches: Batches, methods: list[str], base: dict[str, Any]) -> None:
    print(
        "| policy | guide_mode | guide_reduce | guide pull | magnitude pull | progress pull |"
        " max/min |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for name in methods:
        for mode in ("align", "lookahead"):
            for reduce in ("mean", "sum"):
                opts = {**base, "guide_mode": mode, "guide_reduce": reduce}
                med, _ = median_pulls(name, opts, model, batches)
                vals = [med[t] for t, _ in TERMS]
                spread = max(vals) / max(min(vals), 1e-30)
                cells = " | ".join(f"{v:.3g}" for v in vals)
                print(f"| {name} | {mode} | {reduce} | {cells} | {spread:.1f} |")


def eta_table(model: Any, batches: Batches, name: str, base: dict[str, Any], etas: list[float]):
    """lookahead's guidance pull against its step, and its agreement with align (first order)."""
    align, g_align = median_pulls(name, {**base, "guide_mode": "align"}, model, batches)
    print("| lookahead_step | guide pull | ÷ align's pull | cos(∂lookahead, ∂align) |")
    print("|---:|---:|---:|---:|")
    for eta in etas:
        opts = {**base, "guide_mode": "lookahead", "lookahead_step": eta}
        look, g_look = median_pulls(name, opts, model, batches)
        cos = statistics.median(
            float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))
            for a, b in zip(g_look, g_align, strict=True)
        )
        ratio = look["loss_guide"] / max(align["loss_guide"], 1e-30)
        print(f"| {eta:g} | {look['loss_guide']:.3g} | {ratio:.3f} | {cos:.3f} |")


def trial_config(args: argparse.Namespace, dataset: DataConfig, name: str, opts: dict) -> Any:
    return TrialConfig(
        dataset=dataset,
        method=name,
        method_options=opts,
        model="gin",
        n_train=args.n_train,
        guidance_fraction=0.1,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        threads=args.threads,
        patience=None,
        device="cpu",
    )


def final_state(
    args: argparse.Namespace, dataset: DataConfig, name: str, opts: dict
) -> tuple[Tensor, dict[str, Tensor]]:
    """τ and the model's state at the end of a short trial (from its last checkpoint)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_trial(trial_config(args, dataset, name, opts), Path(tmp))
        state = torch.load(Path(tmp) / "checkpoints" / "last.pt", weights_only=False)
    return state["method"]["policy.tau"].detach().clone(), state["model"]


def trial_table(
    args: argparse.Namespace, dataset: DataConfig, base: dict[str, Any]
) -> dict[str, Tensor]:
    """Final τ of each policy at ``base`` and with each term off; returns the first full run's
    model state (for the pulls on a trained model)."""
    print("| policy | ||τ_full − τ_init|| | term off | ||τ_full − τ_off|| | ÷ guidance-off |")
    print("|---|---:|---|---:|---:|")
    trained: dict[str, Tensor] = {}
    for name in args.methods:
        full, model_state = final_state(args, dataset, name, base)
        trained = trained or model_state
        moved = float((full - float(base.get("tau_init", 0.0))).norm())
        changes = {
            lam: float((full - final_state(args, dataset, name, {**base, lam: 0.0})[0]).norm())
            for _, lam in TERMS
        }
        for lam, change in changes.items():
            ratio = change / max(changes["lambda_g"], 1e-30)
            print(f"| {name} | {moved:.4g} | {lam}=0 | {change:.4g} | {ratio:.3f} |")
    return trained


def measure_pulls(
    model: Any, batches: Batches, args: argparse.Namespace, base: dict, when: str
) -> None:
    print(f"\n## Pulls on τ, {when} (median over {len(batches.pairs)} batches)\n")
    pull_table(model, batches, args.methods, base)
    print(f"\n## lookahead against its step, {when} ({args.methods[0]})\n")
    eta_table(model, batches, args.methods[0], base, args.etas)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    base = parse_options(args.option)
    dataset = DataConfig(name="qm9", featurizer="2d", limit=args.limit, val_size=100, test_size=100)
    data = prepare(dataset, n_train=args.n_train, guidance_fraction=0.1, seed=args.seed)
    batches = Batches(data, args.batch_size, args.seed, args.batches)
    torch.manual_seed(args.seed)
    model = build_model("gin", data.node_dim, data.edge_dim, len(data.tasks))
    d = sum(p.numel() for p in model.shared_parameters())
    print(f"options: {base or 'defaults'}; {len(data.tasks)} tasks; GIN, {d} shared parameters")
    measure_pulls(model, batches, args, base, "GIN at initialisation")
    if args.no_trial:
        return
    print(f"\n## Short trials: {args.epochs} epochs, n_train {args.n_train}, final τ\n")
    model.load_state_dict(trial_table(args, dataset, base))
    when = f"GIN after the {args.methods[0]} trial at these options"
    measure_pulls(model, batches, args, base, when)


if __name__ == "__main__":
    main()
