"""The numbers in docs/results/ come from the report code: rebuild one cell of each published
study from its saved trials (tests/results/cells/) and compare the report's rows with the page's.

A change to Δm%, its rounding or its table that would change a published number fails here; the
page is then re-made from its study (docs/results/README.md says how), not edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aimstudy.analysis import analyse, open_study, write_report
from tests.results.cells import replay

REPO = Path(__file__).resolve().parents[2]
CELLS = sorted((Path(__file__).parent / "cells").glob("*.json"))
DELTA_SECTION = "## Δm% vs STL"


def section_rows(markdown: str, heading: str) -> list[str]:
    """The table rows (no header, no rule) of the first table under `heading`."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append(line)
    return rows[1:]  # the first is the header


def row_key(row: str) -> tuple[str, str]:
    """(arm, size) of a Δm% row: its first two cells."""
    cells = [c.strip() for c in row.strip("|").split("|")]
    return cells[0], cells[1]


@pytest.mark.parametrize("cell_file", CELLS, ids=[c.stem for c in CELLS])
def test_published_delta_m_rows_are_rebuilt(cell_file: Path, tmp_path: Path) -> None:
    cell = json.loads(cell_file.read_text())
    page = (REPO / "docs" / "results" / cell["study"] / "report.md").read_text()
    published = {row_key(r): r for r in section_rows(page, DELTA_SECTION)}
    folder = replay(cell, tmp_path / cell["study"])
    files = write_report(analyse(open_study(folder), with_policy=False))
    rebuilt = section_rows(files.markdown.read_text(), DELTA_SECTION)
    size = str(cell["n_train"])
    arms = [a for a in cell["arms"] if a != "stl"]  # stl is the reference: Δm% 0 by definition
    assert {row_key(r) for r in rebuilt} >= {(a, size) for a in arms}
    for row in rebuilt:
        if row_key(row)[0] in arms:
            assert row == published[row_key(row)]
