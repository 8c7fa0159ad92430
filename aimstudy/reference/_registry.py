"""The registry of reference models: ``get(name, **options)``, ``names()``, ``options(name)``,
``doc(name)``, as `aimstudy.mtl` has for gradient methods (the CLI and spec checks read both)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ._base import ReferenceModel

_REGISTRY: dict[str, type[ReferenceModel]] = {}
R = TypeVar("R", bound=type[ReferenceModel])


def register(name: str) -> Callable[[R], R]:
    """Class decorator adding a reference model under ``name`` (also sets ``cls.name``)."""

    def deco(cls: R) -> R:
        if name in _REGISTRY:
            raise ValueError(f"reference method {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """Registered reference method names, alphabetically."""
    return sorted(_REGISTRY)


def _lookup(name: str) -> type[ReferenceModel]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown reference method {name!r}; expected one of {names()}")
    return _REGISTRY[name]


def options(name: str) -> dict[str, Any]:
    """The options of reference method ``name`` with their defaults."""
    params = inspect.signature(_lookup(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and p.kind is not p.VAR_KEYWORD}


def doc(name: str) -> str:
    """The docstring of reference method ``name``."""
    return inspect.getdoc(_lookup(name)) or ""


def get(name: str, **opts: Any) -> ReferenceModel:
    """Build (unfitted) reference method ``name``; unknown or bad options are a ValueError."""
    cls = _lookup(name)
    allowed = options(name)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for reference method {name!r}; allowed: {sorted(allowed)}"
        )
    return cls(**opts)
