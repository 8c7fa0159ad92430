"""MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the task gradients."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import MGDAWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("mgda")
class MGDA(TorchJDGramianMethod):
    """MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the task gradients.

    Wraps torchjd's ``MGDAWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        epsilon: float = 1e-3,
        max_iters: int = 100,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = MGDAWeighting(epsilon=epsilon, max_iters=max_iters)
