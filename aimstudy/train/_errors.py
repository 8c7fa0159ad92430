"""Pydantic validation errors as one line that names the key path and what is allowed.

Shared by study specs (`tune`) and `aimstudy train`, so a bad option reads the same in both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def loc_text(loc: tuple[Any, ...]) -> str:
    """('grid', 'method', 2) -> 'grid.method[2]'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model found by walking `loc` through nested pydantic models."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif field is not None and part == loc[-1]:
            return None
    return list(model.model_fields)


def describe_error(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[Any, ...] = ()
) -> str:
    """First pydantic error as 'key.path: what is wrong; allowed: ...' (+ count of the rest)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    where = loc_text(prefix + loc) or "study"
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        message = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and first["type"] not in ("value_error", "assertion_error"):
            message += f" (got {first['input']!r})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"
