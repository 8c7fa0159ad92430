"""IMTL-G (Liu et al. 2021): the update with equal projections on every task gradient."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import IMTLGWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("imtlg")
class IMTLG(TorchJDGramianMethod):
    """IMTL-G (Liu et al. 2021): the update with equal projections on every task gradient.

    Wraps torchjd's ``IMTLGWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = IMTLGWeighting()
