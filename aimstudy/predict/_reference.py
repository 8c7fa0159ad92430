"""`ReferencePredictor`: a reference trial's fitted model (e.g. `fingerprint-rf`) on SMILES.

It has `Predictor`'s surface (tasks, units, config, epoch, `predict`), so `aimstudy predict`,
`aimstudy export` and the MLflow model serve both kinds of trial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aimstudy import reference
from aimstudy.predict._predictor import (
    DEFAULT_BATCH_SIZE,
    ERROR_COLUMN,
    invalid_smiles,
    smiles_text,
)
from aimstudy.train import REFERENCE_KEY


@dataclass
class ReferencePredictor:
    """A fitted reference model with its tasks and units, as saved in its trial's `best.pt`.

    Predictions are in report units (training values times `report_factor`), as the trial's
    `test/mae/<task>` are.
    """

    model: reference.ReferenceModel
    tasks: list[dict[str, Any]]  # Task fields: name, unit, report_unit, report_factor, ...
    config: dict[str, Any]  # the TrialConfig that fitted it
    epoch: int  # 1: its one fit
    n_jobs: int = 1

    @classmethod
    def from_state(cls, state: dict[str, Any], path: Path) -> ReferencePredictor:
        """From a loaded reference `best.pt`; ValueError in one line when its model is unreadable
        (another scikit-learn, a damaged file)."""
        try:
            model = reference.from_bytes(state[REFERENCE_KEY]["model"])
        except Exception as exc:  # unpickling raises many kinds
            raise ValueError(f"{path}: cannot load its reference model ({exc})") from None
        threads = int(state["config"].get("threads", 1))
        return cls(model, list(state["tasks"]), state["config"], int(state["epoch"]), threads)

    @property
    def task_names(self) -> list[str]:
        return [t["name"] for t in self.tasks]

    @property
    def units(self) -> dict[str, str]:
        """{task: unit of its predictions}."""
        return {t["name"]: t["report_unit"] for t in self.tasks}

    def predict(
        self,
        smiles: Sequence[object],
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """One row per SMILES, in order: a float column per task and `error` (as `Predictor`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        values = np.full((len(smiles), len(self.tasks)), np.nan)  # [N, T]
        errors: list[str | None] = [None] * len(smiles)
        factors = np.array([float(t["report_factor"]) for t in self.tasks])  # [T]
        for start in range(0, len(smiles), batch_size):
            chunk = smiles[start : start + batch_size]
            texts, rows = [], []
            for i, item in enumerate(chunk, start=start):
                text, error = smiles_text(item)
                if text is None:
                    errors[i] = error
                else:
                    texts.append(text)
                    rows.append(i)
            X, ok = self.model.featurize(texts)
            for i, text in zip(np.asarray(rows)[~ok], np.asarray(texts)[~ok], strict=True):
                errors[int(i)] = invalid_smiles(str(text))
            if ok.any():
                kept = np.asarray(rows)[ok]
                values[kept] = self.model.predict(X[ok], self.n_jobs) * factors
            if progress is not None:
                progress(len(chunk))
        frame = pd.DataFrame(values, columns=self.task_names)
        frame[ERROR_COLUMN] = pd.Series(errors, dtype=object)
        return frame
