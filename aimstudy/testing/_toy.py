"""A tiny hard-parameter-sharing regression problem to test MTL methods on real autograd."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from aimstudy.mtl import StepInputs


class ToyProblem:
    """Shared ``Linear(5, 8) + tanh`` encoder, one ``Linear(8, 1)`` head per task, MSE losses.

    Targets are random per task, so the task gradients on the encoder conflict. ``order`` relabels
    the tasks (task ``t`` of this problem is task ``order[t]`` of the unpermuted one).
    """

    def __init__(self, n_tasks: int = 3, seed: int = 0, order: Sequence[int] | None = None) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.n_tasks = n_tasks
        self.order = list(order) if order is not None else list(range(n_tasks))
        self.encoder = nn.Linear(5, 8)
        heads = [nn.Linear(8, 1) for _ in range(n_tasks)]
        with torch.no_grad():
            for p in [*self.encoder.parameters(), *(q for h in heads for q in h.parameters())]:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        self.heads = nn.ModuleList([heads[i] for i in self.order])
        x, xg = torch.randn(16, 5, generator=gen), torch.randn(8, 5, generator=gen)
        y, yg = torch.randn(16, n_tasks, generator=gen), torch.randn(8, n_tasks, generator=gen)
        self.x, self.y = x, y[:, self.order]
        self.xg, self.yg = xg, yg[:, self.order]

    def shared_params(self) -> list[Tensor]:
        return list(self.encoder.parameters())

    def head_params(self, task: int | None = None) -> list[Tensor]:
        """All head parameters, or those of one task."""
        if task is not None:
            return list(self.heads[task].parameters())
        return [p for h in self.heads for p in h.parameters()]

    def losses(
        self, x: Tensor | None = None, y: Tensor | None = None, params: dict | None = None
    ) -> Tensor:
        """Per-task MSE [T] on (x, y), the encoder optionally replaced by ``params``."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        z = self.encoder(x) if params is None else functional_call(self.encoder, params, (x,))
        z = torch.tanh(z)  # [B, 8]
        if params is None and x is self.x:
            self.z = z  # the shared representation of the primary batch
        preds = torch.cat([h(z) for h in self.heads], dim=1)  # [B, T]
        return ((preds - y) ** 2).mean(dim=0)

    def guide_losses(self, params: dict[str, Tensor] | None) -> Tensor:
        """Losses on the guidance batch [T]."""
        return self.losses(self.xg, self.yg, params)

    def inputs(
        self, present: Tensor | None = None, diagnose: bool = False, lr: float = 0.1
    ) -> StepInputs:
        """Fresh ``StepInputs`` for one step; absent tasks get a zero loss, as in the trainer."""
        self.zero_grad()
        losses = self.losses()
        if present is not None:
            losses = losses * present
        return StepInputs(
            losses=losses,
            present=present,
            shared_params=self.shared_params(),
            head_params=self.head_params(),
            representation=self.z,
            guide_losses=self.guide_losses,
            shared_param_names=[n for n, _ in self.encoder.named_parameters()],
            lr=lr,
            diagnose=diagnose,
        )

    def zero_grad(self) -> None:
        for p in [*self.shared_params(), *self.head_params()]:
            p.grad = None

    def shared_grad(self) -> Tensor:
        """The encoder's gradient as one flat vector [d]."""
        return torch.cat([p.grad.reshape(-1) for p in self.shared_params()])  # type: ignore[union-attr]

    def sgd_step(self, lr: float = 0.05) -> None:
        """Apply the gradients, so a run of several steps sees changing losses."""
        with torch.no_grad():
            for p in [*self.shared_params(), *self.head_params()]:
                if p.grad is not None:
                    p -= lr * p.grad
