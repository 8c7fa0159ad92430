"""Reusable test helpers: a toy multi-task problem, a step runner, and (in
`aimstudy.testing.pytest_methods`, which needs pytest) the property suite for MTL methods."""

from __future__ import annotations

from typing import Any

from aimstudy.testing._steps import run_steps
from aimstudy.testing._toy import ToyProblem

__all__ = ["MTLMethodTestSuite", "ToyProblem", "run_steps"]


def __getattr__(name: str) -> Any:
    """`MTLMethodTestSuite` on first use only, so importing this package never needs pytest."""
    if name == "MTLMethodTestSuite":
        from aimstudy.testing.pytest_methods import MTLMethodTestSuite

        return MTLMethodTestSuite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
