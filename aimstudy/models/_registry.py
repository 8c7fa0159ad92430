"""The model registry: names -> backbone classes, so the CLI and search spaces list them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from aimstudy.models._base import MultiTaskModel

_REGISTRY: dict[str, type[MultiTaskModel]] = {}

M = TypeVar("M", bound=type[MultiTaskModel])


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator adding a backbone to the registry under `name`."""

    def _add(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return _add


def names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_options(name: str) -> dict[str, object]:
    """The configurable options of model `name` with their defaults."""
    fixed = {"self", "node_dim", "edge_dim", "n_tasks"}
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    for cls in _lookup(name).__mro__:  # a subclass passing *args/**kwargs on: ask its base
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind in variadic for p in params.values()):
            return {k: p.default for k, p in params.items() if k not in fixed}
    return {}


def doc(name: str) -> str:
    """The docstring of model `name` (`aimstudy list models` shows its first sentence)."""
    return inspect.getdoc(_lookup(name)) or ""


def check_options(name: str, options: dict[str, object]) -> None:
    """Raise ValueError naming an unknown option of model `name` (cheap, before any building)."""
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"model_options: unknown option(s) {unknown} for model {name!r}; "
            f"allowed: {sorted(allowed)}"
        )


def build_model(
    name: str, node_dim: int, edge_dim: int, n_tasks: int, **options: object
) -> MultiTaskModel:
    """Build the registered backbone `name` with one head per task."""
    check_options(name, options)
    if node_dim < 1 or n_tasks < 1:
        raise ValueError(f"model {name!r}: node_dim and n_tasks must be >= 1")
    return _lookup(name)(node_dim=node_dim, edge_dim=edge_dim, n_tasks=n_tasks, **options)


def _lookup(name: str) -> type[MultiTaskModel]:
    if name not in _REGISTRY:
        raise ValueError(f"model: unknown name {name!r}; choose from {names()}")
    return _REGISTRY[name]
