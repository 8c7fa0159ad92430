"""`fingerprint-rf`: a random forest per task on Morgan fingerprints and RDKit 2-D descriptors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._base import ReferenceModel
from ._features import descriptor_names, featurize
from ._registry import register

MAX_FEATURES_NAMES = ("sqrt", "log2")


@register("fingerprint-rf")
class FingerprintForest(ReferenceModel):
    """Random forest per task (scikit-learn) on Morgan count fingerprints (radius 2, 2048 bits)
    and RDKit 2-D descriptors: a chemist's usual baseline.

    Each task's forest sees only its labelled training rows. `max_features`: the share of
    features a split considers (a float in (0, 1]) or "sqrt" / "log2" of their number.
    """

    def __init__(
        self, n_estimators: int = 300, min_samples_leaf: int = 1, max_features: float | str = 0.3
    ) -> None:
        _check_count("n_estimators", n_estimators)
        _check_count("min_samples_leaf", min_samples_leaf)
        _check_max_features(max_features)
        self.n_estimators, self.min_samples_leaf = n_estimators, min_samples_leaf
        self.max_features = max_features
        self.descriptors = descriptor_names()  # fixed at construction: see _features
        self.forests: list[Any] = []  # one fitted RandomForestRegressor per task

    def featurize(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return featurize(smiles, self.descriptors)

    def fit(self, X: np.ndarray, Y: np.ndarray, seed: int, n_jobs: int = 1) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self.forests = []
        for t in range(Y.shape[1]):
            labelled = ~np.isnan(Y[:, t])  # [N]
            forest = RandomForestRegressor(
                n_estimators=self.n_estimators,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                random_state=seed % 2**32,  # sklearn takes [0, 2**32)
                n_jobs=n_jobs,
            )
            self.forests.append(forest.fit(X[labelled], Y[labelled, t]))

    def predict(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        if not self.forests:
            raise ValueError(f"{self.name}: predict before fit")
        out = np.empty((len(X), len(self.forests)))  # [N, T]
        for t, forest in enumerate(self.forests):
            forest.n_jobs = n_jobs  # the machine predicting need not be the one that fitted
            out[:, t] = forest.predict(X) if len(X) else []
        return out


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fingerprint-rf option {name}: expected an integer >= 1, got {value!r}")


def _check_max_features(value: Any) -> None:
    if value in MAX_FEATURES_NAMES:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= 1:
        raise ValueError(
            f"fingerprint-rf option max_features: expected a share in (0, 1] or one of "
            f"{list(MAX_FEATURES_NAMES)}, got {value!r}"
        )
