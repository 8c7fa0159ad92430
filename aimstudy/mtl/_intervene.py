"""AIM's intervention (aim-method.md Eq. 1-3) on the Jacobian and in its Gram-matrix form.

``intervene`` works on the full Jacobian and is the reference; ``gram_weights`` gives the same
update as weights ``w`` with ``g_int = Σ_j w_j g_j``, from the Gram matrix ``K = G Gᵀ`` alone, which
is what ``aim-scalar``/``aim-matrix`` use (microseconds whatever the model size).
"""

from __future__ import annotations

import torch
from torch import Tensor

AGGREGATES = ("sum", "mean")
_TINY = 1e-12  # floor for squared norms: zero or tiny gradients never divide by zero


def check_tau(tau: Tensor, n: int) -> None:
    """``tau`` must be 0-d (scalar policy) or [n, n] (matrix policy)."""
    if not isinstance(tau, Tensor) or (tau.dim() != 0 and tuple(tau.shape) != (n, n)):
        shape = list(tau.shape) if isinstance(tau, Tensor) else type(tau).__name__
        raise ValueError(
            f"tau has shape {shape}; expected a 0-d tensor (scalar policy) or [{n}, {n}] "
            f"(matrix policy, one threshold per ordered task pair)"
        )


def _check_options(aggregate: str, k: float) -> None:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {list(AGGREGATES)}; got {aggregate!r}")
    if not k > 0:
        raise ValueError(f"temperature k must be > 0; got {k!r}")


def gate(
    K: Tensor, tau: Tensor, k: float = 10.0, conflict_only: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Gate ``W`` [N, N], cosine ``C`` [N, N] and projection coefficients ``P`` [N, N] from ``K``.

    ``W_ij = sigmoid(k (τ_ij − C_ij))`` for ordered pairs of present tasks (non-zero diagonal of
    ``K``), 0 elsewhere and on the diagonal; times ``1[C_ij < 0]`` with ``conflict_only``.
    """
    n = K.shape[0]
    check_tau(tau, n)
    sq = K.diagonal()  # [N] squared norms
    present = sq > 0
    norms = sq.clamp_min(_TINY).sqrt()  # [N]
    C = K / (norms[:, None] * norms[None, :])  # [N, N]
    P = K / sq.clamp_min(_TINY)[None, :]  # [N, N]: P_ij = g_i·g_j / ||g_j||²
    off = ~torch.eye(n, dtype=torch.bool, device=K.device)
    pairs = present[:, None] & present[None, :] & off
    if conflict_only:
        pairs = pairs & (C < 0)
    W = torch.sigmoid(k * (tau - C)) * pairs  # [N, N]
    return W, C, P


def _scale(present: Tensor, aggregate: str) -> Tensor:
    """1 for ``sum``; 1 / (number of present tasks) for ``mean``."""
    if aggregate == "sum":
        return present.new_ones((), dtype=torch.get_default_dtype())
    return 1.0 / present.sum().clamp_min(1).to(torch.get_default_dtype())


def gram_weights(
    K: Tensor,
    tau: Tensor,
    k: float = 10.0,
    aggregate: str = "sum",
    conflict_only: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Weights ``w`` [N] with ``g_int = Σ_j w_j g_j``, the gate ``W`` and cosines ``C`` [N, N].

    ``w_j = 1 − Σ_i W_ij P_ij`` (``sum``; divided by the number of present tasks for ``mean``),
    0 for absent tasks. Differentiable in ``tau``; ``K`` [N, N] enters as given.
    """
    _check_options(aggregate, k)
    W, C, P = gate(K, tau, k, conflict_only)
    present = K.diagonal() > 0
    w = (1.0 - (W * P).sum(dim=0)) * present  # [N]
    return w * _scale(present, aggregate).to(w.dtype), W, C


def intervene(
    G: Tensor,
    tau: Tensor,
    k: float = 10.0,
    aggregate: str = "sum",
    conflict_only: bool = False,
) -> tuple[Tensor, Tensor]:
    """AIM's intervention on a Jacobian ``G`` [N, d]: returns ``(g_int [d], W [N, N])``.

    ``g'_i = g_i − Σ_{j≠i} W_ij P_ij g_j`` from the raw gradients, ``g_int = Σ_i g'_i`` (or the mean
    over present tasks). Zero rows take part in no pair. The reference for ``gram_weights``.
    """
    if G.dim() != 2:
        raise ValueError(f"G must be a Jacobian of shape [N, d]; got shape {list(G.shape)}")
    _check_options(aggregate, k)
    W, _, P = gate(G @ G.T, tau, k, conflict_only)
    projected = G - (W * P) @ G  # [N, d]: g'_i
    present = (G != 0).any(dim=1)  # [N]
    g_int = (projected * present[:, None]).sum(dim=0) * _scale(present, aggregate).to(G.dtype)
    return g_int, W
