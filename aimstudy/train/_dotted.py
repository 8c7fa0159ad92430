"""Dotted option paths (`method_options.lambda_m`): the one way every layer reads and writes
nested trial options by name (study grids and overrides, MLflow params, run names, CLI flags).

A path names a value inside nested mappings, one key per segment. A leaf is any value that is
not a non-empty mapping, so an empty mapping (`method_options: {}`) is a value of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


def leaves(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {dotted path: leaf}, in the mapping's order."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(leaves(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """target["a"]["b"]["c"] = value for path "a.b.c", creating mappings on the way (a value
    that is not a mapping on the way is replaced by one)."""
    *parents, last = path.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def parse_assignment(item: str, flag: str) -> tuple[str, Any]:
    """`KEY=VALUE` of a command-line flag -> (key, value parsed as YAML; None when empty).

    Raises ValueError naming `flag` when there is no `=` or no key."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{flag}: expected KEY=VALUE, got {item!r}")
    return key.strip(), yaml.safe_load(text) if text.strip() else None
