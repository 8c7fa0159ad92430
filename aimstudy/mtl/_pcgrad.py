"""PCGrad (Yu et al. 2020): project each gradient off the conflicting others, random order."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import PCGradWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("pcgrad")
class PCGrad(TorchJDGramianMethod):
    """PCGrad (Yu et al. 2020): project each gradient off the conflicting others, random order.

    Wraps torchjd's ``PCGradWeighting``.
    """

    permutation_invariant: ClassVar[bool] = False

    def __init__(
        self,
        n_tasks: int,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = PCGradWeighting()
