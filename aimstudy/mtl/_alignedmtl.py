"""Aligned-MTL (Senushkin et al. 2023): align the principal components of the Jacobian."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import AlignedMTLWeighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("alignedmtl")
class AlignedMTL(TorchJDGramianMethod):
    """Aligned-MTL (Senushkin et al. 2023): align the principal components of the Jacobian.

    Wraps torchjd's ``AlignedMTLWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        scale_mode: str = "min",
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.weighting = AlignedMTLWeighting(scale_mode=scale_mode)
