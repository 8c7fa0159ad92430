"""DWA (Liu et al. 2019): weight each loss by how slowly it fell over the last two epochs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchjd.scalarization import DWA as _TorchJDDWA

from ._base import ScalarizedMethod
from ._registry import register


@register("dwa")
class DWA(ScalarizedMethod):
    """Wraps torchjd's ``scalarization.DWA``; the trainer calls ``on_epoch_end`` once per epoch.

    A task absent from a batch enters DWA's epoch average with its last seen loss (detached), so
    sparse labels do not pull its average towards zero.
    """

    def __init__(
        self,
        n_tasks: int,
        temperature: float = 2.0,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.scalarizer = _TorchJDDWA(temperature=temperature)
        self.register_buffer("last_seen", torch.ones(n_tasks))

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        filled = torch.where(present, losses, self.last_seen.to(losses.dtype))
        self.last_seen = torch.where(present, losses.detach(), self.last_seen)
        return self.scalarizer(filled)

    def on_epoch_end(self) -> None:
        self.scalarizer.step()

    def reset(self) -> None:
        self.scalarizer.reset()
        self.last_seen.fill_(1.0)

    def get_extra_state(self) -> dict[str, Any]:
        s = self.scalarizer
        prev = [a.clone() for a in s._previous_averages]
        return {"sum": s._loss_sum, "n": s._n_batches, "prev": prev}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        s = self.scalarizer
        s._loss_sum, s._n_batches, s._previous_averages = state["sum"], state["n"], state["prev"]
