"""LS: linear scalarization with equal weights, ``Σ_i L_i`` (torchjd's ``scalarization.Sum``)."""

from __future__ import annotations

from torch import Tensor
from torchjd.scalarization import Sum

from ._base import ScalarizedMethod
from ._registry import register


@register("ls")
class LS(ScalarizedMethod):
    """Equal weights: the plain sum of the present tasks' losses (one backward pass)."""

    def __init__(self, n_tasks: int, grad_at: str = "params", engine: str = "loop") -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.scalarizer = Sum()

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        return self.scalarizer(losses * present)
