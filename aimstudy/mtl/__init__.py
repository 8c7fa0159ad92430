"""How task gradients become one update: AIM and its baselines behind one registry.

``get(name, n_tasks, **options)`` builds a method, ``names()`` lists them, ``options(name)`` and
``doc(name)`` describe one; every method is an ``MTLMethod`` whose ``backward(StepInputs)`` sets
the ``.grad`` of the shared and head parameters.
"""

from __future__ import annotations

from ._aim import AIM, GUIDE_MODES, AIMMatrix, AIMScalar
from ._alignedmtl import AlignedMTL
from ._base import GramianMethod, MTLMethod, ScalarizedMethod, StepInputs, cosine_from_gram
from ._cagrad import CAGrad
from ._dwa import DWA
from ._engine import ENGINES, jacobians, task_gradients
from ._famo import FAMO
from ._gramian import TorchJDGramianMethod
from ._imtlg import IMTLG
from ._intervene import gate, gram_weights, intervene
from ._ls import LS
from ._mgda import MGDA
from ._nashmtl import NashMTL
from ._objective import (
    GUIDE_REDUCES,
    difficulty_weights,
    guide_align_term,
    magnitude_term,
    progress_term,
    reduce_guide,
)
from ._pcgrad import PCGrad
from ._policy import MatrixPolicy, ScalarPolicy
from ._registry import doc, get, names, options, register
from ._rlw import RLW
from ._stl import STL
from ._upgrad import UPGrad
from ._uw import UW

__all__ = [
    "AlignedMTL",
    "CAGrad",
    "DWA",
    "FAMO",
    "IMTLG",
    "MGDA",
    "NashMTL",
    "PCGrad",
    "RLW",
    "TorchJDGramianMethod",
    "UPGrad",
    "UW",
    "AIM",
    "AIMMatrix",
    "AIMScalar",
    "ENGINES",
    "GUIDE_MODES",
    "GUIDE_REDUCES",
    "GramianMethod",
    "LS",
    "MTLMethod",
    "MatrixPolicy",
    "STL",
    "ScalarPolicy",
    "ScalarizedMethod",
    "StepInputs",
    "cosine_from_gram",
    "difficulty_weights",
    "doc",
    "gate",
    "get",
    "gram_weights",
    "guide_align_term",
    "intervene",
    "jacobians",
    "magnitude_term",
    "names",
    "options",
    "progress_term",
    "reduce_guide",
    "register",
    "task_gradients",
]
