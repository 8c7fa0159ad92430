"""`ray.init` arguments: our defaults under the caller's, huge pages for the trial workers."""

from __future__ import annotations

import pytest

from aimstudy.train import HUGE_PAGES_ENV
from aimstudy.tune._ray import ray_init_kwargs


def test_workers_get_huge_pages_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    kwargs = ray_init_kwargs(None)
    assert kwargs["runtime_env"] == {"env_vars": HUGE_PAGES_ENV}
    assert kwargs["include_dashboard"] is False


def test_the_callers_options_and_env_vars_win_and_are_not_modified() -> None:
    extra = {"num_cpus": 2, "runtime_env": {"env_vars": {"THP_MEM_ALLOC_ENABLE": "0", "A": "1"}}}
    kwargs = ray_init_kwargs(extra)
    assert kwargs["num_cpus"] == 2
    assert kwargs["runtime_env"]["env_vars"] == {"THP_MEM_ALLOC_ENABLE": "0", "A": "1"}
    assert extra["runtime_env"]["env_vars"] == {"THP_MEM_ALLOC_ENABLE": "0", "A": "1"}


def test_the_drivers_environment_opts_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    assert ray_init_kwargs(None)["runtime_env"]["env_vars"] == {"THP_MEM_ALLOC_ENABLE": "0"}
