"""IMTL-G (Liu et al. 2021): the update with equal projections on every task gradient."""

from __future__ import annotations

from typing import ClassVar

from torchjd.aggregation import IMTLGWeighting, Weighting

from ._gramian import TorchJDGramianMethod
from ._registry import register


@register("imtlg")
class IMTLG(TorchJDGramianMethod):
    """IMTL-G (Liu et al. 2021): the update with equal projections on every task gradient.

    Wraps torchjd's ``IMTLGWeighting``.
    """

    permutation_invariant: ClassVar[bool] = True
    weighting_cls: ClassVar[type[Weighting] | None] = IMTLGWeighting
