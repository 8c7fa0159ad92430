"""`Standardizer`: per-task mean and std from the labelled training values."""

from __future__ import annotations

import torch


class Standardizer:
    """z = (y - mean) / std per task; statistics over labelled entries of the training subset."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean = mean.float()  # [T]
        self.std = std.float()  # [T]

    @classmethod
    def fit(cls, y: torch.Tensor, mask: torch.Tensor) -> Standardizer:
        """Statistics of `y` [N, T] over entries where `mask` [N, T] is True (std 0 -> 1)."""
        w = mask.to(torch.float64)
        values = torch.where(mask, y.to(torch.float64), torch.zeros((), dtype=torch.float64))
        count = w.sum(0).clamp_min(1.0)  # [T]
        mean = values.sum(0) / count
        var = (w * (values - mean) ** 2).sum(0) / count
        std = var.sqrt()
        std = torch.where(std > 0, std, torch.ones_like(std))
        return cls(mean, std)

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        """Training units -> standardized: [..., T]."""
        return (y - self.mean.to(y.device)) / self.std.to(y.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Standardized -> training units: [..., T]."""
        return z * self.std.to(z.device) + self.mean.to(z.device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Standardizer:
        return cls(state["mean"], state["std"])

    def __repr__(self) -> str:
        return f"Standardizer(mean={self.mean.tolist()}, std={self.std.tolist()})"
