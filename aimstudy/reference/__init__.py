"""Non-gradient reference models a study can name as a method beside the GNN ones.

``get(name, **options)`` builds one (unfitted), ``names()`` lists them, ``options(name)`` and
``doc(name)`` describe one. A `ReferenceModel` featurizes SMILES itself, fits per-task targets
with NaN where unlabelled and predicts [N, T]; `aimstudy.train` runs it as a one-epoch trial.
Needs scikit-learn (imported when a model is fitted).
"""

from __future__ import annotations

from ._base import ReferenceModel, from_bytes, to_bytes
from ._features import N_BITS, RADIUS, descriptor_names, featurize
from ._forest import FingerprintForest
from ._registry import doc, get, names, options, register

__all__ = [
    "N_BITS",
    "RADIUS",
    "FingerprintForest",
    "ReferenceModel",
    "descriptor_names",
    "doc",
    "featurize",
    "from_bytes",
    "get",
    "names",
    "options",
    "register",
    "to_bytes",
]
