"""Flatten a nested trial config into MLflow params with dotted keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# MLflow rejects param values longer than this (characters).
MAX_PARAM_LENGTH = 6000


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {"a.b.c": "value"}: the params layout of docs/architecture.md.

    Lists and other leaves are written as JSON (or str) so they stay readable in the UI; an empty
    mapping becomes "{}" so a key such as `method_options` is still visible.
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = _to_text(value)[:MAX_PARAM_LENGTH]
    return flat


def _to_text(value: Any) -> str:
    """Leaf -> text: strings as they are, everything else as compact JSON when possible."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
