"""The unit each task's MAE is reported in, for axis labels.

Trial runs do not log units; every trial logs its dataset (`dataset.name`) and the MAE metrics
are named by task, so the units come from the dataset layer's task definitions (QM9 specs,
the Biogen preset, a `(unit)` suffix of a CSV column), without reading any data.
"""

from __future__ import annotations

import pandas as pd

from aimstudy.data import report_units

__all__ = ["display_unit", "study_units"]

_DATASET = "dataset.name"  # the trial param naming the dataset (flattened DataConfig.name)
_SUPERSCRIPTS = {"^2": "²", "^3": "³"}


def study_units(table: pd.DataFrame) -> dict[str, str]:
    """{task: report unit} of a results table: its trials' dataset and the tasks they report."""
    if table.empty or _DATASET not in table.columns or "task" not in table.columns:
        return {}
    datasets = table[_DATASET].dropna().astype(str).unique()
    tasks = [str(t) for t in table["task"].dropna().unique()]
    units: dict[str, str] = {}
    for dataset in datasets:  # one in practice; a pooled launch could mix
        units = {**report_units(dataset, tasks), **units}
    return units


def display_unit(unit: str) -> str:
    """A unit as axes show it: `a0^3` -> `a0³`."""
    for plain, pretty in _SUPERSCRIPTS.items():
        unit = unit.replace(plain, pretty)
    return unit
