"""Single-task learning as one model: T independent backbones, one per task (the STL baseline)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aimstudy.models._base import MultiTaskModel


class SingleTaskEnsemble(MultiTaskModel):
    """T single-task models side by side; prediction t comes from model t only.

    Nothing is shared between members, so summing the task losses and taking one step trains
    each member on its own task exactly as T separate runs would (Adam is per parameter).
    The representation is the concatenation of the members' representations, [B, T·H].
    """

    def __init__(self, members: list[MultiTaskModel]) -> None:
        super().__init__()
        if not members or any(m.n_tasks != 1 for m in members):
            raise ValueError("SingleTaskEnsemble needs at least one member, each with one task")
        self.members = nn.ModuleList(members)

    @property
    def n_tasks(self) -> int:
        return len(self.members)

    def encode(self, batch: object) -> Tensor:
        return torch.cat([m.encode(batch) for m in self.members], dim=-1)  # [B, T*H]

    def predict_from(self, z: Tensor) -> Tensor:
        chunks = z.chunk(len(self.members), dim=-1)  # T × [B, H]
        return torch.cat(
            [m.predict_from(c) for m, c in zip(self.members, chunks, strict=True)], dim=-1
        )

    def forward(self, batch: object) -> Tensor:
        return torch.cat([m(batch) for m in self.members], dim=-1)  # [B, T]

    def shared_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [
            (f"members.{t}.{n}", p)
            for t, m in enumerate(self.members)
            for n, p in m.shared_named_parameters()
        ]

    def task_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.members for p in m.task_parameters()]

    def head_parameters(self, task: int) -> list[nn.Parameter]:
        return self.members[task].task_parameters()
