"""`TrialConfig`: everything that defines one trial (one method, one dataset configuration)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aimstudy.data import DataConfig

# Fields that may change between a checkpoint and its resumption without changing the result
# of the epochs already run (more epochs, another device or thread count, a new STL reference).
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "device", "threads", "stl_reference"})


class TrialConfig(BaseModel):
    """One trial: dataset, method, model, budget and optimisation settings (extra keys forbidden).

    `patience`: epochs without a better val norm_mae before stopping (None = never stop early).
    `diagnose_every`: every that many steps, methods without a Jacobian also compute the
    gradient-cosine matrix (0 = never). `baselines_use_guidance`: methods that do not use the
    guidance split train on primary + guidance (default: they never see it).
    """

    model_config = ConfigDict(extra="forbid")

    dataset: DataConfig = Field(default_factory=DataConfig)
    method: str = "ls"
    method_options: dict[str, Any] = Field(default_factory=dict)
    model: str = "mpnn"
    model_options: dict[str, Any] = Field(default_factory=dict)
    n_train: int | None = Field(default=None, ge=1)
    guidance_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    baselines_use_guidance: bool = False
    seed: int = 0
    epochs: int = Field(default=100, ge=1)
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=256, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    loss: Literal["mse", "l1"] = "mse"
    lr_factor: float = Field(default=0.7, gt=0, lt=1)
    lr_patience: int = Field(default=5, ge=0)
    min_lr: float = Field(default=1e-5, ge=0)
    patience: int | None = Field(default=20, ge=1)
    device: str = "auto"
    threads: int = Field(default=1, ge=1)
    stl_reference: dict[str, float] | None = None
    diagnose_every: int = Field(default=10, ge=0)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu") and not value.startswith("cuda"):
            raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:i]', got {value!r}")
        return value

    @field_validator("stl_reference")
    @classmethod
    def _positive_reference(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            bad = sorted(k for k, v in value.items() if not v > 0)
            if bad:
                raise ValueError(f"stl_reference: MAE must be > 0 for task(s) {bad}")
        return value
