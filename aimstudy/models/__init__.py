"""GNN backbones with one head per task, behind a registry (`build_model`, `names`)."""

from __future__ import annotations

from aimstudy.models._base import MultiTaskModel, make_heads
from aimstudy.models._ensemble import SingleTaskEnsemble
from aimstudy.models._registry import (
    build_model,
    check_options,
    doc,
    model_options,
    names,
    register_model,
)

# Importing the backbone modules registers them, in this order (that of `names()`).
# isort: off
from aimstudy.models._mpnn import MPNN
from aimstudy.models._gin import GIN
from aimstudy.models._attentivefp import AttentiveFPModel
# isort: on

__all__ = [
    "GIN",
    "MPNN",
    "AttentiveFPModel",
    "MultiTaskModel",
    "SingleTaskEnsemble",
    "build_model",
    "check_options",
    "doc",
    "make_heads",
    "model_options",
    "names",
    "register_model",
]
