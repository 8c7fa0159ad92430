"""Nash-MTL (Navon et al. 2022): the update is the Nash bargaining solution between the tasks."""

from __future__ import annotations

import warnings
from typing import ClassVar

from torch import Tensor
from torchjd.aggregation import NashMTL as _TorchJDNashMTL

from ._base import GramianMethod
from ._registry import register


@register("nashmtl")
class NashMTL(GramianMethod):
    """Nash-MTL; wraps the weighting of torchjd's ``NashMTL`` (needs ``torchjd[nash-mtl]``).

    It works on the Jacobian itself (not only its Gramian) and keeps a warm start over steps. With
    sparse labels the set of present tasks may change; the warm start is then reset for the new set.
    """

    permutation_invariant: ClassVar[bool] = True

    def __init__(
        self,
        n_tasks: int,
        max_norm: float = 1.0,
        update_weights_every: int = 1,
        optim_niter: int = 20,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.aggregator = _TorchJDNashMTL(
            n_tasks=n_tasks,
            max_norm=max_norm,
            update_weights_every=update_weights_every,
            optim_niter=optim_niter,
        )
        self._present_key: tuple[int, ...] | None = None

    def reset(self) -> None:
        self.aggregator.n_tasks = self.n_tasks
        self.aggregator.reset()
        self._present_key = None

    def _weights(self, G: Tensor, K: Tensor) -> Tensor:
        m = G.shape[0]
        if self.aggregator.n_tasks != m:
            self.aggregator.n_tasks = m
            self.aggregator.reset()
        with warnings.catch_warnings():  # cvxpy: "problem is not DPP", harmless here
            warnings.simplefilter("ignore", UserWarning)
            return self.aggregator.weighting(G)

    def get_extra_state(self) -> dict:
        w = self.aggregator.weighting
        keys = ("prvs_alpha", "normalization_factor", "init_gtg", "step")
        return {"nash": {k: getattr(w, k) for k in keys}, "n": self.aggregator.n_tasks}

    def set_extra_state(self, state: dict) -> None:
        self.aggregator.n_tasks = state["n"]
        self.aggregator.reset()
        weighting = self.aggregator.weighting
        for k, v in state["nash"].items():
            setattr(weighting, k, v)
        if weighting.step > 0:  # the solver problem is built at step 0 only: rebuild it
            weighting._init_optim_problem()
