"""UPGrad (Quinton & Rey 2024): project each gradient onto the dual cone of all, average."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import UPGradWeighting, Weighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("upgrad")
class UPGrad(TorchJDGramianMethod):
    """UPGrad (Quinton & Rey 2024): project each gradient onto the dual cone of all, average.

    Wraps torchjd's ``UPGradWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True
    weighting_cls: ClassVar[type[Weighting] | None] = UPGradWeighting
