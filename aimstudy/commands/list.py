"""`aimstudy list methods|models|datasets`: what a study may name, with options and defaults.

Read from the registries (methods: `aimstudy.mtl`, then `aimstudy.reference`; `aimstudy.models`,
`aimstudy.data`), so the listing is always the code's own: one row per option, the entry's
one-line description beside them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

KINDS = {"methods": "method", "models": "model", "datasets": "dataset"}  # kind -> column title
WIDTH = 100  # the table's width; descriptions wrap to what the other columns leave
REQUIRED = "(required)"  # shown for an option without a default


@dataclass(frozen=True)
class Entry:
    """One registered name: a one-line description and its options with their defaults."""

    name: str
    description: str
    options: dict[str, Any]


def register(subparsers: argparse._SubParsersAction, summary: str) -> None:
    """Add the `list` subcommand."""
    parser = subparsers.add_parser(
        "list",
        help=summary,
        description=f"{summary} Options go under `method_options:` / `model_options:` / "
        "`dataset:` in a study, or `--set` on the command line.",
    )
    parser.add_argument("kind", choices=list(KINDS), help="what to list")
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="an aligned plain-text table (default) or JSON: [{name, description, options}]",
    )
    parser.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    entries = entries_of(args.kind)
    if args.format == "json":
        print(json.dumps([asdict(e) for e in entries], indent=2, default=str))
    else:
        print(format_table(KINDS[args.kind], entries))
    return 0


def entries_of(kind: str) -> list[Entry]:
    """The entries of `kind` (methods, models, datasets) in their registry's order; only that
    layer is imported."""
    if kind == "methods":
        from aimstudy import mtl, reference

        gradient = [_entry(n, first_sentence(mtl.doc(n)), mtl.options(n)) for n in mtl.names()]
        fitted = [
            _entry(n, first_sentence(reference.doc(n)), reference.options(n))
            for n in reference.names()
        ]
        return gradient + fitted
    if kind == "models":
        from aimstudy import models

        return [
            _entry(n, first_sentence(models.doc(n)), models.model_options(n))
            for n in models.names()
        ]
    if kind == "datasets":
        from aimstudy import data

        return [_dataset_entry(n) for n in data.names()]
    raise ValueError(f"list: unknown kind {kind!r}; choose from {', '.join(KINDS)}")


def _dataset_entry(name: str) -> Entry:
    from aimstudy import data

    info = data.info(name)
    description = f"{info.description} Default tasks: {info.default_tasks}."
    return _entry(name, description, data.options(name))


def _entry(name: str, description: str, options: dict[str, Any]) -> Entry:
    shown = {k: REQUIRED if v is inspect.Parameter.empty else v for k, v in options.items()}
    return Entry(name, description, shown)


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line, without reST's double
    backticks ("et al. 2020" and abbreviations before a lowercase word or digit do not end it)."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split()).replace("``", "")
    return re.split(r"(?<=\.)\s+(?=[A-Z])", paragraph, maxsplit=1)[0]


def format_table(title: str, entries: Sequence[Entry]) -> str:
    """Columns NAME, OPTION, DEFAULT, DESCRIPTION: a row per option, the description wrapped
    beside an entry's rows, a blank line between entries."""
    options = [[(k, show(v)) for k, v in e.options.items()] or [("-", "")] for e in entries]
    names = [title.upper(), *(e.name for e in entries)]
    keys = ["OPTION", *(k for rows in options for k, _ in rows)]
    values = ["DEFAULT", *(v for rows in options for _, v in rows)]
    widths = [max(map(len, column)) for column in (names, keys, values)]
    text_width = max(30, WIDTH - sum(widths) - 6)
    lines = [_row(widths, names[0], keys[0], values[0], "DESCRIPTION")]
    for entry, rows in zip(entries, options, strict=True):
        text = textwrap.wrap(entry.description, text_width)
        rows = rows + [("", "")] * (len(text) - len(rows))
        text += [""] * (len(rows) - len(text))
        lines.append("")
        for i, ((key, value), line) in enumerate(zip(rows, text, strict=True)):
            lines.append(_row(widths, entry.name if i == 0 else "", key, value, line))
    return "\n".join(lines)


def _row(widths: Sequence[int], *cells: str) -> str:
    *columns, text = cells
    padded = [f"{cell:<{width}}" for cell, width in zip(columns, widths, strict=True)]
    return "  ".join([*padded, text]).rstrip()


def show(value: Any) -> str:
    """A default as it is written in a study's YAML: null, true/false, numbers, bare strings."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return str(value)
