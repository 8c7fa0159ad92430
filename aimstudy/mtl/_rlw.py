"""RLW (Lin et al. 2022): random loss weighting, fresh softmax-normal weights every step."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor
from torchjd.scalarization import Random

from ._base import ScalarizedMethod
from ._registry import register


@register("rlw")
class RLW(ScalarizedMethod):
    """Weights ``softmax(ε)``, ``ε ~ N(0, I)``, drawn from torch's global RNG (seeded by the trial).

    Wraps torchjd's ``scalarization.Random``; the weights sum to 1 over all tasks.
    """

    permutation_invariant: ClassVar[bool] = False

    def __init__(self, n_tasks: int, grad_at: str = "params", engine: str = "loop") -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.scalarizer = Random()

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        return self.scalarizer(losses * present)
