"""The registry of methods: ``get(name, n_tasks, **options)``, ``names()``, ``options(name)``.

It also feeds the CLI choices and the search spaces, so options are checked against each method's
constructor before anything is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ._base import MTLMethod

_REGISTRY: dict[str, type[MTLMethod]] = {}
M = TypeVar("M", bound=type[MTLMethod])


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding a method under ``name`` (also sets ``cls.name``)."""

    def deco(cls: M) -> M:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


_ORDER = ["stl", "ls", "pcgrad", "cagrad", "nashmtl", "famo", "aim-scalar", "aim-matrix"]


def names() -> list[str]:
    """Registered method names: the paper's set first, then the others alphabetically."""
    known = [n for n in _ORDER if n in _REGISTRY]
    return known + sorted(n for n in _REGISTRY if n not in _ORDER)


def options(name: str) -> dict[str, Any]:
    """The options of method ``name`` with their defaults (``n_tasks`` excluded)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {
        k: p.default
        for k, p in params.items()
        if k not in ("self", "n_tasks") and p.kind is not p.VAR_KEYWORD
    }


def doc(name: str) -> str:
    """The docstring of method ``name`` (``aimstudy list methods`` shows its first sentence)."""
    return inspect.getdoc(_lookup(name)) or ""


def _lookup(name: str) -> type[MTLMethod]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown MTL method {name!r}; expected one of {names()}")
    return _REGISTRY[name]


def get(name: str, n_tasks: int, **opts: Any) -> MTLMethod:
    """Build method ``name`` for ``n_tasks`` tasks; unknown options are a ValueError."""
    cls = _lookup(name)
    allowed = options(name)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for MTL method {name!r}; allowed: {sorted(allowed)}"
        )
    return cls(n_tasks, **opts)
