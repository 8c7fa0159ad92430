"""UPGrad (Quinton & Rey 2024): project each gradient onto the dual cone of all, average."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import UPGradWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("upgrad")
class UPGrad(TorchJDGramianMethod):
    """UPGrad (Quinton & Rey 2024): project each gradient onto the dual cone of all, average.

    Wraps torchjd's ``UPGradWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = UPGradWeighting()
