"""`DataConfig`: everything that selects a dataset, its tasks, featurizer and split."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_EVAL_SIZE = 0.1  # val_size / test_size of a random or scaffold split when not given
SPLIT_PARTS = ("train", "val", "test")  # the values a `split: column` column may hold


class DataConfig(BaseModel):
    """Which molecules, which targets, which graphs and which split (embedded in study specs).

    `tasks`: a named task set of the dataset ("default", QM9 "nashmtl11" / "qm9_12", the csv
    preset "biogen", "all") or an explicit list of task / column names.
    `path`: the data file (csv; biogen reads its shipped copy when unset; tpd-adme optional).
    `limit`: a seeded subsample of the dataset taken before splitting (quick studies); limits
    nest (the 1,000-molecule pool lies inside the 5,000-molecule pool).
    `split`: "random", "scaffold" (Murcko groups), or "column": the file's `split_column` names
    each row's part, train / val / test (case and surrounding spaces ignored), so a fixed test
    set is kept; `n_train` subsets and the guidance carve-out come from its train part.
    `val_size`, `test_size`: random / scaffold only (default DEFAULT_EVAL_SIZE); below 1 a
    fraction of the pool, from 1 on a molecule count. With "column" they are errors: the column
    alone sizes the parts, and a size that silently did nothing would mislead.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "qm9"
    tasks: str | list[str] = "default"
    featurizer: Literal["auto", "2d", "3d"] = "auto"
    path: Path | None = None
    smiles_column: str | None = None
    limit: int | None = Field(default=None, ge=1)
    split: Literal["random", "scaffold", "column"] = "random"
    split_column: str | None = None
    val_size: float | None = Field(default=None, gt=0)
    test_size: float | None = Field(default=None, gt=0)
    cache_dir: Path | None = None

    @field_validator("tasks")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("tasks: empty list; give at least one task name")
        return value

    @model_validator(mode="after")
    def _split_options(self) -> DataConfig:
        """`split_column` with `split: column` only, and no sizes there (the column sizes the
        parts); other splits get the default sizes filled in, so dumped configs show them."""
        if self.split != "column":
            if self.split_column is not None:
                raise ValueError(
                    f"split_column={self.split_column!r} needs split: column "
                    f"(split is {self.split!r})"
                )
            self.val_size, self.test_size = self.eval_sizes()
            return self
        if self.split_column is None:
            raise ValueError(
                "split: column needs split_column: the name of a column holding "
                f"{'/'.join(SPLIT_PARTS)} per row"
            )
        given = [key for key in ("val_size", "test_size") if getattr(self, key) is not None]
        if given:
            raise ValueError(
                f"{' and '.join(given)}: not used with split: column (column "
                f"{self.split_column!r} sets the parts); remove it or set it to null"
            )
        return self

    def eval_sizes(self) -> tuple[float, float]:
        """(val_size, test_size) of a random or scaffold split, defaults for those unset."""
        val = DEFAULT_EVAL_SIZE if self.val_size is None else self.val_size
        test = DEFAULT_EVAL_SIZE if self.test_size is None else self.test_size
        return val, test
