"""AIM's learned policies: the conflict threshold τ (one scalar, or one per ordered task pair).

Each policy is an ``nn.Module`` with its own Adam. ``step`` differentiates the policy loss into τ
only (``autograd.grad`` on the policy's parameters), so nothing ever reaches the network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _Policy(nn.Module):
    """Shared machinery: a τ parameter, its Adam, a reset to the initial value."""

    def __init__(self, shape: tuple[int, ...], tau_init: float, lr: float) -> None:
        super().__init__()
        if not lr > 0:
            raise ValueError(f"policy_lr must be > 0; got {lr!r}")
        self.tau_init = float(tau_init)
        self.lr = float(lr)
        self.tau = nn.Parameter(torch.full(shape, self.tau_init))
        self.optimizer = torch.optim.Adam([self.tau], lr=self.lr)

    def forward(self) -> Tensor:
        """τ as used by the gate: 0-d (scalar policy) or [N, N] (matrix policy)."""
        return self.tau

    def matrix(self, n: int) -> Tensor:
        """τ as an [N, N] matrix for diagnostics (the scalar broadcast to every pair)."""
        return self.tau.detach().expand(n, n).clone()

    def step(self, loss: Tensor) -> None:
        """One Adam step of τ on ``loss``; the gradient goes to τ and nowhere else."""
        (grad,) = torch.autograd.grad(loss, [self.tau], allow_unused=True, materialize_grads=True)
        self.tau.grad = grad
        self.optimizer.step()
        self.tau.grad = None

    def reset(self) -> None:
        with torch.no_grad():
            self.tau.fill_(self.tau_init)
        self.optimizer = torch.optim.Adam([self.tau], lr=self.lr)


class ScalarPolicy(_Policy):
    """One threshold τ shared by every task pair (AIM-Scalar)."""

    def __init__(self, n_tasks: int, tau_init: float = 0.0, lr: float = 1e-3) -> None:
        super().__init__((), tau_init, lr)


class MatrixPolicy(_Policy):
    """A full [N, N] threshold matrix, ordered pairs, not forced symmetric (AIM-Matrix)."""

    def __init__(self, n_tasks: int, tau_init: float = 0.0, lr: float = 1e-3) -> None:
        super().__init__((n_tasks, n_tasks), tau_init, lr)
