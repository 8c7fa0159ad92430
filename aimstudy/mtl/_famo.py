"""FAMO (Liu et al. 2023): balance the rates at which the task losses fall, from losses only."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor
from torchjd.scalarization import FAMO as _TorchJDFAMO

from ._base import ScalarizedMethod
from ._registry import register


@register("famo")
class FAMO(ScalarizedMethod):
    """FAMO as in its paper, on torchjd's ``scalarization.FAMO`` (which owns the logits ξ).

    Model update: ``∇ c·Σ_i z_i log L_i`` with ``z = softmax(ξ)`` and ``c = (Σ_i z_i/L_i)⁻¹``
    detached, i.e. weights ``w_i = c·z_i/L_i`` (they sum to 1 over ``g_i/L_i``). Logit update
    (paper, Algorithm 2): after the model step the trainer recomputes the *same* batch's losses
    (``needs_losses_after_step``) and ``after_step`` takes one Adam step of ξ on
    ``δ + γ·ξ``, ``δ = J_softmax(ξ)ᵀ (log L_before − log L_after)``, γ = ``weight_decay`` (Adam's
    coupled L2 decay, as in the official code and torchjd; ``lr`` is that Adam's). An absent task
    enters with its last seen loss (detached) before and after, so its log-loss change is zero.
    """

    needs_losses_after_step: ClassVar[bool] = True

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
        self._pending: tuple[Tensor, Tensor] | None = None  # (losses before the step, present)

    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        if self._pending is not None:
            raise ValueError(
                "famo: after_step(losses_after) was not called after the previous step; FAMO's "
                "logits learn from the same batch's losses after each model step"
            )
        filled = torch.where(present, losses, self.last_seen.to(losses.dtype))
        self.last_seen = torch.where(present, losses.detach(), self.last_seen)
        self._pending = (filled.detach().clone(), present.clone())
        return self.scalarizer(filled)

    def after_step(self, losses_after: Tensor) -> None:
        """One logit step from the log-loss change of the batch the model was just stepped on."""
        if self._pending is None:
            raise ValueError("famo: after_step called without a backward before it")
        before, present = self._pending
        if losses_after.shape != before.shape:
            raise ValueError(
                f"famo: losses_after has shape {list(losses_after.shape)}; "
                f"expected [{self.n_tasks}]"
            )
        self._pending = None
        after = losses_after.detach().to(device=before.device, dtype=before.dtype)
        self.scalarizer.update(torch.where(present, after, before))

    def reset(self) -> None:
        self.scalarizer.reset()
        self.last_seen.fill_(1.0)
        self._pending = None

    def get_extra_state(self) -> dict[str, Any]:
        # the logits are a parameter (in state_dict); torchjd builds their Adam lazily
        opt = self.scalarizer._optimizer
        return {"adam": None if opt is None else copy.deepcopy(opt.state_dict())}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        s = self.scalarizer
        s._optimizer, self._pending = None, None
        if state.get("adam") is not None:
            s._optimizer = torch.optim.Adam([s._w], lr=s.lr, weight_decay=s.weight_decay)
            s._optimizer.load_state_dict(state["adam"])
