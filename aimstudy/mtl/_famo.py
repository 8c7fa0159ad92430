"""FAMO (Liu et al. 2023): balance the rates at which the task losses fall, from losses only."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor
from torchjd.scalarization import FAMO as _TorchJDFAMO

from ._base import ScalarizedMethod
from ._registry import register


@register("famo")
class FAMO(ScalarizedMethod):
    """Wraps torchjd's ``scalarization.FAMO``, which owns its logits and their Adam.

    FAMO's weight update needs the losses after the model step. Our interface sees one batch per
    call, so the update uses the next batch's losses (one step late, as several reimplementations
    do): no extra forward pass. An absent task enters with its last seen loss (detached), so its
    log-loss change is zero and it gets no gradient.
    """

    def __init__(
        self,
        n_tasks: int,
        lr: float = 0.025,
        weight_decay: float = 1e-3,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        self.scalarizer = _TorchJDFAMO(n_tasks, lr=lr, weight_decay=weight_decay)
        self.register_buffer("last_seen", torch.ones(n_tasks))

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        filled = torch.where(present, losses, self.last_seen.to(losses.dtype))
        self.last_seen = torch.where(present, losses.detach(), self.last_seen)
        if self.scalarizer._prev_losses is not None:
            self.scalarizer.update(filled.detach())
        return self.scalarizer(filled)

    def reset(self) -> None:
        self.scalarizer.reset()
        self.last_seen.fill_(1.0)

    def get_extra_state(self) -> dict[str, Any]:
        opt = self.scalarizer._optimizer
        return {
            "prev": self.scalarizer._prev_losses,
            "adam": None if opt is None else copy.deepcopy(opt.state_dict()),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        s = self.scalarizer
        s._prev_losses = state["prev"]
        s._optimizer = None
        if state["adam"] is not None:
            s._optimizer = torch.optim.Adam([s._w], lr=s.lr, weight_decay=s.weight_decay)
            s._optimizer.load_state_dict(state["adam"])
