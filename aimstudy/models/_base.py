"""Hard-parameter-sharing base: a shared encoder (θ_s) and one small head per task."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def make_heads(hidden: int, n_tasks: int, head_hidden: int = 0) -> nn.ModuleList:
    """One head per task: Linear(hidden→1), or a one-hidden-layer MLP when head_hidden > 0."""
    if head_hidden > 0:
        return nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, head_hidden), nn.ReLU(), nn.Linear(head_hidden, 1))
            for _ in range(n_tasks)
        )
    return nn.ModuleList(nn.Linear(hidden, 1) for _ in range(n_tasks))


class MultiTaskModel(nn.Module):
    """Base of every backbone: subclasses build `self.heads` and implement `encode`.

    Everything that is not in `self.heads` is the shared encoder, so the split between
    `shared_parameters` and `task_parameters` cannot drift when a backbone changes.
    """

    heads: nn.ModuleList

    def encode(self, batch: object) -> Tensor:
        """The shared representation of each graph, [B, H]."""
        raise NotImplementedError

    def predict_from(self, z: Tensor) -> Tensor:
        """Apply every head to the representation: [B, H] -> [B, T]."""
        return torch.cat([head(z) for head in self.heads], dim=-1)

    def forward(self, batch: object) -> Tensor:
        """Standardized predictions, [B, T]."""
        return self.predict_from(self.encode(batch))

    @property
    def n_tasks(self) -> int:
        return len(self.heads)

    def shared_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) of the encoder θ_s, names as in `named_parameters()`."""
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("heads.")]

    def shared_parameters(self) -> list[nn.Parameter]:
        """The encoder parameters θ_s (everything but the heads)."""
        return [p for _, p in self.shared_named_parameters()]

    def task_parameters(self) -> list[nn.Parameter]:
        """The head parameters θ_1..θ_T, in task order."""
        return list(self.heads.parameters())

    def head_parameters(self, task: int) -> list[nn.Parameter]:
        """The parameters of the head of one task."""
        return list(self.heads[task].parameters())
