"""One call from a study to every table the report shows: `analyse(study) -> StudyAnalysis`.

The notebook and `aimstudy report` both go through here, so they show the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from aimstudy.analysis._arms import ARM, grid_columns, label_arms, select_launch
from aimstudy.analysis._checks import (
    correlated_groups,
    task_correlation,
    undertrained,
    with_interval_note,
)
from aimstudy.analysis._curves import data_efficiency, seed_points
from aimstudy.analysis._policy import load_policy, seed_stability
from aimstudy.analysis._runs import load_runs, parent_runs, results_table
from aimstudy.analysis._stats import compare_to_baselines, delta_m, mean_ranks, summarize
from aimstudy.analysis._study import Study, grid_of
from aimstudy.analysis._units import study_units
from aimstudy.tracking import GRID_PARAM
from aimstudy.tune import StudyFolder

__all__ = ["StudyAnalysis", "analyse", "grid_status"]


@dataclass
class StudyAnalysis:
    """Every table derived from one study's MLflow store."""

    study: Study
    runs: pd.DataFrame  # one row per MLflow run (parents and trials) of the launch(es) read
    table: pd.DataFrame  # tidy: trial x task x split, with its `arm` label
    deltas: pd.DataFrame  # Δm% per finished trial
    delta_summary: pd.DataFrame  # Δm% mean ± CI per arm x size; `interval` says how made
    ranks: pd.DataFrame  # mean rank over tasks per arm x size
    comparisons: pd.DataFrame  # AIM arms vs baselines: seeds as replicates, Holm, effect sizes
    curves: pd.DataFrame  # data-efficiency points (mean ± CI over seeds)
    policy: pd.DataFrame  # long policy matrices of every trial that logged them
    stability: pd.DataFrame  # τ agreement across seeds
    cells: pd.DataFrame  # grid cells of the spec and what became of them
    notes: list[str] = field(default_factory=list)
    size_key: str = "n_train"  # the size key the study varies: the curves' x-axis
    launch: str = ""  # which launch(es) the tables come from
    curve_seeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # the curves' seed values
    undertrained: pd.DataFrame = field(default_factory=pd.DataFrame)  # best epoch = last, per arm
    task_correlation: pd.DataFrame = field(default_factory=pd.DataFrame)  # task x task Spearman
    correlated: list[list[str]] = field(default_factory=list)  # tasks whose MAEs move together
    units: dict[str, str] = field(default_factory=dict)  # task -> unit its MAE is reported in

    @property
    def trial_status(self) -> pd.DataFrame:
        """Number of trial runs per MLflow status."""
        trials = self.table.drop_duplicates("run_id") if not self.table.empty else self.table
        if trials.empty:
            return pd.DataFrame(columns=["status", "trials"])
        counts = trials["status"].value_counts()
        return counts.rename_axis("status").reset_index(name="trials")

    @property
    def parent_run_id(self) -> str | None:
        """The launch read (the latest of those pooled), where the report is attached."""
        parents = parent_runs(self.runs)
        return None if parents.empty else str(parents.iloc[0]["run_id"])


def _norm(value: Any) -> str:
    """Compare grid values and params alike: numbers by value, everything else as text."""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def _grid_from_parents(runs: pd.DataFrame) -> dict[str, list[Any]]:
    """The grid `aimstudy run` logs as the JSON param `grid` of its parent run; pooled launches
    (`--launch all`) get the union of theirs, so an arm only one launch varies keeps its label."""
    column = f"param:{GRID_PARAM}"
    parents = parent_runs(runs)
    if parents.empty or column not in parents.columns:
        return {}
    merged: dict[str, list[Any]] = {}
    for text in parents[column]:
        for key, values in _parent_grid(text).items():
            known = merged.setdefault(key, [])
            known.extend(v for v in values if v not in known)
    return merged


def _parent_grid(text: Any) -> dict[str, list[Any]]:
    try:
        grid = json.loads(text) if isinstance(text, str) else {}
    except json.JSONDecodeError:
        return {}  # truncated by MLflow's param length limit
    if not isinstance(grid, dict):
        return {}
    return {k: v for k, v in grid.items() if isinstance(v, list)}


def grid_status(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """Each grid cell of the spec with its outcome: finished, failed, running or missing.

    A trial belongs to the cell that sets most keys among those whose every logged key it
    matches (keys that are not trial params are ignored), the first one on a tie.
    Columns: the cells' keys, status, runs.
    """
    cells = study.expected_cells()
    trials = table.drop_duplicates("run_id") if not table.empty else table
    keys = list(dict.fromkeys(k for cell in cells for k in cell if k in trials.columns))
    if not cells or not keys:
        return pd.DataFrame(columns=[*keys, "status", "runs"])
    statuses: list[list[str]] = [[] for _ in cells]
    for _, run in trials.iterrows():
        matched = [
            (sum(key in keys for key in cell), -k)
            for k, cell in enumerate(cells)
            if all(_norm(run[key]) == _norm(value) for key, value in cell.items() if key in keys)
        ]
        if matched:  # the most specific cell: {method: m} also matches m's ablation arms
            statuses[-max(matched)[1]].append(str(run["status"]))
    records = []
    for cell, found in zip(cells, statuses, strict=True):
        records.append(
            {**{k: cell.get(k) for k in keys}, "status": _cell_status(found), "runs": len(found)}
        )
    return pd.DataFrame(records)


def _cell_status(statuses: list[str]) -> str:
    if "FINISHED" in statuses:
        return "finished"
    if "RUNNING" in statuses or "SCHEDULED" in statuses:
        return "running"
    return "failed" if statuses else "missing"


def analyse(
    study: Study,
    split: str = "test",
    with_policy: bool = True,
    fallback_reference: str = "ls",
    launch: str | None = None,
) -> StudyAnalysis:
    """Read one launch of the study (the latest; `launch` a parent run id, or `all` to pool)
    and compute every table of the report, per arm and size.

    Δm% is against STL; a study without STL (and without `stl_reference`) gets Δm% against
    `fallback_reference` (LS by default), said in `notes` and in the `source` column.
    """
    runs, which = select_launch(load_runs(study.tracking_uri, study.name), launch)
    if not study.grid:  # the launch's own grid; its spec in the folder if the param was cut
        grid = _grid_from_parents(runs) or grid_of(StudyFolder(study.folder).read_spec())
        study = replace(study, grid=grid)
    table, size = label_arms(results_table(runs), grid_columns(study.grid))
    notes: list[str] = [f"tables read {which}"]
    if table.empty:
        notes.append(f"no trial runs in experiment {study.name!r} at {study.tracking_uri}")
    deltas = delta_m(table, split=split, size=size)
    if not table.empty and deltas.empty:
        deltas = delta_m(table, split=split, reference=fallback_reference, size=size)
        notes.append(
            f"no finished `stl` trial and no logged best/test/delta_m: Δm% is computed against "
            f"`{fallback_reference}` instead"
            if not deltas.empty
            else "Δm% not computed: no finished `stl` trial and no logged best/test/delta_m"
        )
    finished = table[table["status"] == "FINISHED"] if not table.empty else table
    policy = pd.DataFrame()
    if with_policy and not finished.empty:
        policy = load_policy(study.tracking_uri, finished, size=size)
    correlation = task_correlation(table, split=split, size=size)
    return StudyAnalysis(
        study=study,
        runs=runs,
        table=table,
        deltas=deltas,
        delta_summary=with_interval_note(summarize(deltas, "delta_m", [ARM, size])),
        ranks=mean_ranks(table, split=split, size=size),
        comparisons=compare_to_baselines(table, split=split, size=size),
        curves=data_efficiency(table, deltas, split=split, size=size),
        policy=policy,
        stability=seed_stability(policy) if not policy.empty else pd.DataFrame(),
        cells=grid_status(study, table),
        notes=notes,
        size_key=size,
        launch=which,
        curve_seeds=seed_points(table, deltas, split=split, size=size),
        undertrained=undertrained(table, runs),
        task_correlation=correlation,
        correlated=correlated_groups(correlation),
        units=study_units(table),
    )
