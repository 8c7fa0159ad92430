"""PCGrad (Yu et al. 2020): project each gradient off the conflicting others, random order."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import PCGradWeighting, Weighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("pcgrad")
class PCGrad(TorchJDGramianMethod):
    """PCGrad (Yu et al. 2020): project each gradient off the conflicting others, random order.

    Wraps torchjd's ``PCGradWeighting``.
    """

    permutation_invariant: ClassVar[bool] = False
    weighting_cls: ClassVar[type[Weighting] | None] = PCGradWeighting
