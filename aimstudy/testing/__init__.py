"""Reusable test helpers: a toy multi-task problem and the property suite for MTL methods."""

from __future__ import annotations

from ._suite import MTLMethodTestSuite, run_steps
from ._toy import ToyProblem

__all__ = ["MTLMethodTestSuite", "ToyProblem", "run_steps"]
