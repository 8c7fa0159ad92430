"""Arms and launches: which trials belong together in a report.

An *arm* is one distinct assignment of every configuration key that varies within a launch,
except the seed and the size key (the x-axis of the data-efficiency curves): the method, any
`method_options.*`, `guidance_fraction`, the model, ... Seeds of one arm at one size are its
replicates. A *launch* is one `aimstudy run` (one MLflow parent run with its trials); a report
reads one launch unless asked to pool them.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from aimstudy.tracking import STUDY_ROLE, option_label

__all__ = [
    "ARM",
    "LAUNCH_ALL",
    "SIZE_KEYS",
    "arm_keys",
    "grid_columns",
    "label_arms",
    "select_launch",
    "size_key_of",
    "with_arm",
]

ARM = "arm"  # the column every per-arm table is keyed by
LAUNCH_ALL = "all"  # `--launch all`: pool every launch of the experiment
SIZE_KEYS = ("n_train", "dataset.limit")  # keys that set how much data a trial sees, in order
SEED = "seed"
_UNSET = "<unset>"
# Config written per trial by the runner, not chosen by the study: never tells arms apart.
_DERIVED_PREFIXES = ("stl_reference",)

# Columns of the results table that are not configuration (identity, outcome, bookkeeping).
_NOT_CONFIG = {
    "run_id",
    "trial_id",
    "parent_run_id",
    "status",
    "task",
    "split",
    "mae",
    "mae_source",
    "best_epoch",
    "wall_time_s",
    "epoch_time_s",
    "delta_m_logged",
    "launch",
    ARM,
}


def _trials(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop_duplicates("run_id") if "run_id" in table.columns else table


def _distinct(values: pd.Series) -> int:
    """Distinct values, a missing value (an option the trial did not set) counting as one."""
    return len({_canonical(v) for v in values})


def _canonical(value: Any) -> str:
    """Compare values alike: numbers by value; unset, missing and `{}` (no options) as one."""
    if value is None or value is pd.NA or value == "{}":
        return _UNSET
    if isinstance(value, float) and math.isnan(value):
        return _UNSET
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def size_key_of(table: pd.DataFrame) -> str:
    """The size key the launch varies (first of SIZE_KEYS that varies), else `n_train`."""
    trials = _trials(table)
    for key in SIZE_KEYS:
        if key in trials.columns and _distinct(trials[key]) > 1:
            return key
    return SIZE_KEYS[0]


def _under(column: str, keys: list[str]) -> bool:
    return any(column == k or column.startswith(f"{k}.") for k in keys)


def arm_keys(table: pd.DataFrame, size_key: str, grid_keys: list[str] | None = None) -> list[str]:
    """Configuration columns that vary over the launch's trials, except seed and size: `method`
    first, then the rest sorted. With `grid_keys` (the spec's grid) only columns at or under a
    grid key count; without, every config column but the runner's derived ones."""
    trials = _trials(table)
    skip = _NOT_CONFIG | {SEED, size_key}
    varying = [
        c
        for c in trials.columns
        if c not in skip
        and not _under(c, list(_DERIVED_PREFIXES))
        and (grid_keys is None or _under(c, grid_keys))
        and _distinct(trials[c]) > 1
    ]
    return sorted(varying, key=lambda c: (c != "method", c))


def _usual(trials: pd.DataFrame, keys: list[str]) -> dict[str, str]:
    """Per key, the value most arms share when one value is strictly the most common: labels
    leave it out (`h=0.1` on every arm but two says nothing)."""
    arms = trials.drop_duplicates(subset=keys) if keys else trials
    usual: dict[str, str] = {}
    for key in keys:
        counts = arms[key].map(_canonical).value_counts()
        if len(counts) == 1 or counts.iloc[0] > counts.iloc[1]:
            usual[key] = str(counts.index[0])
    return usual


def _label(trial: pd.Series, keys: list[str], usual: dict[str, str]) -> str:
    parts = [str(trial.get("method", "?"))]
    for key in keys:
        value = _canonical(trial[key])
        if key == "method" or value == _UNSET or usual.get(key) == value:
            continue
        parts.append(option_label(key, trial[key]))  # the run names' rule too
    return " ".join(parts)


def label_arms(table: pd.DataFrame, grid_keys: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The table with an `arm` column (a short readable label per arm) and the size key.

    Labels name the method, then every other varying key the trial sets to something else than
    most arms do (`aim-matrix λ_g=0`, `aim-matrix guide=lookahead`, `aim-matrix h=0.2`); two arms
    that would print alike are an error, since the report could not tell them apart.
    """
    out = table.copy()
    if out.empty or "run_id" not in out.columns:
        out[ARM] = pd.Series(dtype=str)
        return out, SIZE_KEYS[0]
    size_key = size_key_of(out)
    keys = arm_keys(out, size_key, grid_keys)
    trials = _trials(out)
    usual = _usual(trials, keys)
    labels = {str(t["run_id"]): _label(t, keys, usual) for _, t in trials.iterrows()}
    _check_distinct(trials, keys, labels)
    out[ARM] = out["run_id"].astype(str).map(labels)
    return out, size_key


def _check_distinct(trials: pd.DataFrame, keys: list[str], labels: dict[str, str]) -> None:
    """Two different assignments of the varying keys must not share a label."""
    seen: dict[str, tuple[str, ...]] = {}
    for _, trial in trials.iterrows():
        label = labels[str(trial["run_id"])]
        assignment = tuple(_canonical(trial[k]) for k in keys)
        if seen.setdefault(label, assignment) != assignment:
            raise ValueError(
                f"arms cannot be told apart: two configurations are both labelled {label!r} "
                f"(varying keys: {keys})"
            )


def _launch_ids(runs: pd.DataFrame) -> list[str]:
    """Launch (parent run) ids, latest first."""
    parents = runs[runs["role"] == STUDY_ROLE].sort_values("start_time", ascending=False)
    return [str(r) for r in parents["run_id"]]


def select_launch(runs: pd.DataFrame, launch: str | None = None) -> tuple[pd.DataFrame, str]:
    """The runs of one launch (its parent run and its trials) and a note saying which.

    `launch` None takes the latest launch, `all` pools every launch, else a parent run id (or a
    unique prefix of one, at least 6 characters). An unknown id is a one-line ValueError listing
    the launches there are.
    """
    if runs.empty:
        return runs, "no runs"
    ids = _launch_ids(runs)
    if launch == LAUNCH_ALL:
        return runs, f"pooled all {len(ids)} launch(es) of the experiment (--launch all)"
    if not ids:
        return runs, "no launch (parent run) recorded: every trial run is used"
    if launch is None:
        chosen = ids[0]
    else:
        matches = [i for i in ids if i == launch or (len(launch) >= 6 and i.startswith(launch))]
        if len(matches) != 1:
            shown = ", ".join(i[:12] for i in ids)
            raise ValueError(
                f"--launch {launch!r}: no such launch in this experiment "
                f"(launches, latest first: {shown}; or 'all')"
            )
        chosen = matches[0]
    keep = (runs["run_id"].astype(str) == chosen) | (runs["parent_run_id"].astype(str) == chosen)
    which = "latest" if chosen == ids[0] else "earlier"
    note = f"launch {chosen[:12]} ({which} of {len(ids)})"
    return runs[keep].reset_index(drop=True), note


def grid_columns(grid: dict[str, list[Any]]) -> list[str] | None:
    """Config keys a grid can vary: its keys, and the keys inside any list of explicit cells
    (a grid value that is a mapping, e.g. `{method: pcgrad}`). None when the grid is unknown."""
    if not grid:
        return None
    keys: list[str] = []
    for key, values in grid.items():
        keys.append(key)
        keys.extend(k for v in values if isinstance(v, dict) for k in v)
    return keys


def with_arm(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with an `arm` column: as it is, else the method (tables made without arms)."""
    if ARM in frame.columns or "method" not in frame.columns:
        return frame
    return frame.assign(**{ARM: frame["method"].astype(str)})
