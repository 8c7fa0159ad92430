"""Flatten a nested trial config into MLflow params with dotted keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aimstudy.tracking._names import MAX_PARAM_LENGTH
from aimstudy.train import leaves


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> {"a.b.c": "value"}: the params layout of docs/architecture.md.

    Lists and other leaves are written as JSON (or str) so they stay readable in the UI; an empty
    mapping becomes "{}" so a key such as `method_options` is still visible.
    """
    return {k: _to_text(v)[:MAX_PARAM_LENGTH] for k, v in leaves(config, prefix).items()}


def _to_text(value: Any) -> str:
    """Leaf -> text: strings as they are, everything else as compact JSON when possible."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
