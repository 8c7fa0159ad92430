"""A ``GramianMethod`` around a torchjd Gramian weighting (``torchjd.aggregation.*Weighting``)."""

from __future__ import annotations

from torch import Tensor
from torchjd.aggregation import Weighting

from ._base import GramianMethod


class TorchJDGramianMethod(GramianMethod):
    """Weights from a torchjd weighting applied to the present tasks' Gramian [m, m]."""

    weighting: Weighting

    def _weights(self, G: Tensor, K: Tensor) -> Tensor:
        return self.weighting(K)
