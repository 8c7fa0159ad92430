"""UW (Kendall et al. 2018): weight each loss by a learned homoscedastic uncertainty."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchjd.scalarization import UW as _TorchJDUW

from ._base import ScalarizedMethod
from ._registry import register


@register("uw")
class UW(ScalarizedMethod):
    """``Σ_i (½ e^{-s_i} L_i + ½ s_i)`` over present tasks, ``s`` learned by the method's own Adam.

    Uses torchjd's ``scalarization.UW`` (its log-variances and formula); absent tasks are masked out
    of the sum by hand so their ``s_i`` does not drift. Equal to torchjd's UW when all are present.
    """

    def __init__(
        self,
        n_tasks: int,
        lr: float = 1e-3,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}")
        self.lr = float(lr)
        self.scalarizer = _TorchJDUW(n_tasks)
        self.optimizer = torch.optim.Adam(self.scalarizer.parameters(), lr=self.lr)

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        if bool(present.all()):
            return self.scalarizer(losses)
        s = self.scalarizer.log_var
        return ((0.5 * torch.exp(-s) * losses + 0.5 * s) * present).sum()

    def _own_params(self) -> list[Tensor]:
        return [self.scalarizer.log_var]

    def _own_step(self, grads: Sequence[Tensor]) -> None:
        self.scalarizer.log_var.grad = grads[0]
        self.optimizer.step()
        self.scalarizer.log_var.grad = None

    def reset(self) -> None:
        self.scalarizer.reset()
        self.optimizer = torch.optim.Adam(self.scalarizer.parameters(), lr=self.lr)

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"uw": self.optimizer}
