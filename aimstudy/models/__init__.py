"""GNN backbones with one head per task, behind a registry (`build_model`, `names`)."""

from __future__ import annotations

from aimstudy.models._base import MultiTaskModel, make_heads
from aimstudy.models._ensemble import SingleTaskEnsemble
from aimstudy.models._registry import (
    build_model,
    check_options,
    model_options,
    names,
    register_model,
)

# Importing the backbone modules registers them.
from aimstudy.models._mpnn import MPNN  # noqa: E402  isort: skip
from aimstudy.models._gin import GIN  # noqa: E402  isort: skip
from aimstudy.models._attentivefp import AttentiveFPModel  # noqa: E402  isort: skip

__all__ = [
    "GIN",
    "MPNN",
    "AttentiveFPModel",
    "MultiTaskModel",
    "SingleTaskEnsemble",
    "build_model",
    "check_options",
    "make_heads",
    "model_options",
    "names",
    "register_model",
]
