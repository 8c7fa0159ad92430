"""Run the reusable property suite over every registered method (and AIM's main variants)."""

from __future__ import annotations

from typing import Any

import pytest

from aimstudy.mtl import get, names
from aimstudy.testing.pytest_methods import MTLMethodTestSuite

VARIANTS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in names()] + [
    ("aim-matrix", {"guide_mode": "lookahead"}),
    ("aim-matrix", {"learn_policy": False}),
    ("aim-scalar", {"guide_reduce": "sum", "guide_mode": "lookahead"}),
    ("aim-matrix", {"guide_mode": "none", "aggregate": "mean", "conflict_only": True}),
    ("aim-scalar", {"guide_mode": "none", "grad_at": "representation"}),
    ("pcgrad", {"engine": "torchjd"}),
    ("upgrad", {"engine": "batched"}),
]


class TestEveryMethod(MTLMethodTestSuite):
    """The property suite, parametrized over the registry."""

    @pytest.fixture(params=VARIANTS, ids=lambda v: v[0] + "".join(f"-{x}" for x in v[1].values()))
    def make_method(self, request: pytest.FixtureRequest) -> Any:
        name, opts = request.param
        return lambda n_tasks: get(name, n_tasks, **opts)
