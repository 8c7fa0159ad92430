"""The task-gradient engine: per-task gradients of the shared encoder (or representation).

Three ways to the Jacobian are offered because their speed depends on the model: ``loop`` (one
``autograd.grad`` per task, the default: fastest on the NNConv+GRU MPNN, see benchmarks/),
``torchjd`` (``torchjd.autojac.jac`` with one task per chunk) and ``batched`` (``is_grads_batched``,
vmap over the backward; no batching rule for the GRU backward on CPU, so it is slow there).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

ENGINES = ("loop", "torchjd", "batched")


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown gradient engine {engine!r}; expected one of {list(ENGINES)}")


def _loop(losses: Sequence[Tensor], params: Sequence[Tensor]) -> list[Tensor]:
    """One ``autograd.grad`` per loss; returns one [m, *p.shape] tensor per parameter."""
    rows = [
        torch.autograd.grad(
            loss, params, retain_graph=True, allow_unused=True, materialize_grads=True
        )
        for loss in losses
    ]
    return [torch.stack([row[j] for row in rows]) for j in range(len(params))]


def _torchjd(losses: Sequence[Tensor], params: Sequence[Tensor]) -> list[Tensor]:
    """torchjd's autojac engine, one task per chunk (unchunked needs several GB on the MPNN)."""
    from torchjd.autojac import jac

    return list(jac(list(losses), list(params), retain_graph=True, parallel_chunk_size=1))


def _batched(losses: Sequence[Tensor], params: Sequence[Tensor]) -> list[Tensor]:
    """``autograd.grad`` with ``is_grads_batched``: one vmapped backward over all tasks."""
    stacked = torch.stack(list(losses))  # [m]
    eye = torch.eye(len(losses), dtype=stacked.dtype, device=stacked.device)  # [m, m]
    grads = torch.autograd.grad(
        stacked,
        list(params),
        grad_outputs=eye,
        retain_graph=True,
        is_grads_batched=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return list(grads)


def jacobians(
    losses: Sequence[Tensor], params: Sequence[Tensor], engine: str = "loop"
) -> list[Tensor]:
    """Jacobian of ``losses`` (m scalars) w.r.t. each tensor in ``params``: [m, *p.shape] each.

    The graph is retained so the caller may still back-propagate a weighted loss afterwards.
    """
    _check_engine(engine)
    if len(losses) == 0:
        return [p.new_zeros((0, *p.shape)) for p in params]
    fn = {"loop": _loop, "torchjd": _torchjd, "batched": _batched}[engine]
    return fn(losses, params)


def task_gradients(
    losses: Tensor,
    present: Tensor,
    shared: Sequence[Tensor],
    heads: Sequence[Tensor] = (),
    engine: str = "loop",
) -> tuple[Tensor, list[Tensor]]:
    """Per-task gradients of the shared tensors and the summed gradient of the heads.

    ``losses`` [T], ``present`` [T] bool. Returns ``G`` [T, d] (d = total size of ``shared``; rows
    of absent tasks are zero and cost nothing) and one gradient per head tensor: the sum over
    present tasks of each loss's gradient, i.e. every head gets the ordinary gradient of its own
    loss.
    """
    idx = torch.nonzero(present, as_tuple=False).flatten().tolist()
    params = [*shared, *heads]
    jacs = jacobians([losses[i] for i in idx], params, engine)
    n_shared = len(shared)
    flat = [j.reshape(len(idx), -1) for j in jacs[:n_shared]]
    g_present = torch.cat(flat, dim=1) if flat else losses.new_zeros((len(idx), 0))  # [m, d]
    G = g_present.new_zeros((losses.shape[0], g_present.shape[1]))  # [T, d]
    G[idx] = g_present
    head_grads = [j.sum(dim=0) for j in jacs[n_shared:]]
    return G, head_grads


def assign_flat_grad(params: Sequence[Tensor], flat: Tensor) -> None:
    """Write the flat vector ``flat`` [d] into ``.grad`` of ``params`` (overwriting)."""
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).detach().clone()
        offset += n


def assign_grads(params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
    """Write ``grads`` into ``.grad`` of ``params`` (overwriting, detached)."""
    for p, g in zip(params, grads, strict=True):
        p.grad = g.detach().clone()
