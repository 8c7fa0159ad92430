"""A ``GramianMethod`` around a torchjd Gramian weighting (``torchjd.aggregation.*Weighting``)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torchjd.aggregation import Weighting

from ._base import GramianMethod


class TorchJDGramianMethod(GramianMethod):
    """Weights from a torchjd weighting applied to the present tasks' Gramian [m, m].

    A weighting without options only names its class in ``weighting_cls``; one with options
    overrides ``__init__`` (its signature lists the options) and sets ``self.weighting``.
    """

    weighting_cls: ClassVar[type[Weighting] | None] = None
    weighting: Weighting

    def __init__(self, n_tasks: int, grad_at: str = "params", engine: str = "loop") -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        if self.weighting_cls is not None:
            self.weighting = self.weighting_cls()

    def _weights(self, G: Tensor, K: Tensor) -> Tensor:
        return self.weighting(K)
