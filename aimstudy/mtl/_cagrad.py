"""CAGrad (Liu et al. 2021): the average gradient, corrected to improve the worst task."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import CAGradWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("cagrad")
class CAGrad(TorchJDGramianMethod):
    """CAGrad (Liu et al. 2021): the average gradient, corrected to improve the worst task.

    Wraps torchjd's ``CAGradWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        c: float = 0.4,
        norm_eps: float = 1e-4,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = CAGradWeighting(c=c, norm_eps=norm_eps)
