"""`DataConfig`: everything that selects a dataset, its tasks, featurizer and split."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DataConfig(BaseModel):
    """Which molecules, which targets, which graphs and which split (embedded in study specs).

    `tasks`: a named task set of the dataset ("default", QM9 "nashmtl11" / "qm9_12", the csv
    preset "biogen", "all") or an explicit list of task / column names.
    `limit`: a seeded subsample of the dataset taken before splitting (quick studies); limits
    nest (the 1,000-molecule pool lies inside the 5,000-molecule pool).
    `val_size`, `test_size`: below 1 a fraction of the pool, from 1 on a molecule count.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "qm9"
    tasks: str | list[str] = "default"
    featurizer: Literal["auto", "2d", "3d"] = "auto"
    path: Path | None = None
    smiles_column: str | None = None
    limit: int | None = Field(default=None, ge=1)
    split: Literal["random", "scaffold"] = "random"
    val_size: float = Field(default=0.1, gt=0)
    test_size: float = Field(default=0.1, gt=0)
    cache_dir: Path | None = None

    @field_validator("tasks")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("tasks: empty list; give at least one task name")
        return value
