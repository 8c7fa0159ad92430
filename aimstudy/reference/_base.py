"""The interface of a reference model: featurize SMILES, fit on labelled rows, predict [N, T].

A reference model is a non-gradient baseline (no backbone, no MTL method): the trainer fits it
once on a trial's training rows and scores it like one epoch of a GNN trial.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np


class ReferenceModel(ABC):
    """Featurize SMILES into rows of `X`, fit per-task targets with NaN where unlabelled, predict.

    The model is pickled whole into a trial's `best.pt`, so it must carry what predicting needs
    (its feature definition and fitted estimators) and no dataset.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def featurize(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Features [N, F] float32 and [N] bool: which SMILES RDKit could read (others: zeros)."""

    @abstractmethod
    def fit(self, X: np.ndarray, Y: np.ndarray, seed: int, n_jobs: int = 1) -> None:
        """Fit on features [N, F] and targets [N, T] in training units (NaN: no label)."""

    @abstractmethod
    def predict(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        """Predictions [N, T] in training units."""


def to_bytes(model: ReferenceModel) -> bytes:
    """The fitted model as zlib-compressed joblib bytes (fitted forests shrink about 3.5x)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def from_bytes(blob: bytes) -> ReferenceModel:
    """The model `to_bytes` wrote (unpickled: load only files you trust, as with torch)."""
    import joblib

    model = joblib.load(io.BytesIO(blob))
    if not isinstance(model, ReferenceModel):
        raise ValueError(f"not a reference model but a {type(model).__name__}")
    return model
