"""One call from a study to every table the report shows: `analyse(study) -> StudyAnalysis`.

The notebook and `aimstudy report` both go through here, so they show the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from aimstudy.analysis._arms import ARM, grid_columns, label_arms, select_launch
from aimstudy.analysis._curves import data_efficiency
from aimstudy.analysis._policy import load_policy, seed_stability
from aimstudy.analysis._runs import load_runs, parent_runs, results_table
from aimstudy.analysis._stats import compare_to_baselines, delta_m, mean_ranks, summarize
from aimstudy.analysis._study import Study

__all__ = ["StudyAnalysis", "analyse", "grid_status"]


@dataclass
class StudyAnalysis:
    """Every table derived from one study's MLflow store."""

    study: Study
    runs: pd.DataFrame  # one row per MLflow run (parents and trials) of the launch(es) read
    table: pd.DataFrame  # tidy: trial x task x split, with its `arm` label
    deltas: pd.DataFrame  # Δm% per finished trial
    delta_summary: pd.DataFrame  # Δm% mean ± CI per arm x size
    ranks: pd.DataFrame  # mean rank over tasks per arm x size
    comparisons: pd.DataFrame  # AIM arms vs baselines: seeds as replicates, Holm, effect sizes
    curves: pd.DataFrame  # data-efficiency points
    policy: pd.DataFrame  # long policy matrices of every trial that logged them
    stability: pd.DataFrame  # τ agreement across seeds
    cells: pd.DataFrame  # grid cells of the spec and what became of them
    notes: list[str] = field(default_factory=list)
    size_key: str = "n_train"  # the size key the study varies: the curves' x-axis
    launch: str = ""  # which launch(es) the tables come from

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


def _grid_from_parent(runs: pd.DataFrame) -> dict[str, list[Any]]:
    """The grid `aimstudy run` logs as the JSON param `grid` of its parent run, if any."""
    parents = parent_runs(runs)
    if parents.empty or "param:grid" not in parents.columns:
        return {}
    text = parents.iloc[0]["param:grid"]
    try:
        grid = json.loads(text) if isinstance(text, str) else {}
    except json.JSONDecodeError:
        return {}  # truncated by MLflow's param length limit
    if not isinstance(grid, dict):
        return {}
    return {k: v for k, v in grid.items() if isinstance(v, list)}


def grid_status(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """Each grid cell of the spec with its outcome: finished, failed, running or missing.

    Grid keys that are not trial params are ignored. Columns: the grid keys, status, runs.
    """
    cells = study.expected_cells()
    trials = table.drop_duplicates("run_id") if not table.empty else table
    keys = [k for k in study.grid if k in trials.columns]
    if not cells or not keys:
        return pd.DataFrame(columns=[*keys, "status", "runs"])
    seen: dict[tuple[str, ...], list[str]] = {}
    for _, run in trials.iterrows():
        seen.setdefault(tuple(_norm(run[k]) for k in keys), []).append(str(run["status"]))
    records = []
    for cell in cells:
        statuses = seen.get(tuple(_norm(cell[k]) for k in keys), [])
        if "FINISHED" in statuses:
            status = "finished"
        elif "RUNNING" in statuses or "SCHEDULED" in statuses:
            status = "running"
        elif statuses:
            status = "failed"
        else:
            status = "missing"
        records.append({**{k: cell[k] for k in keys}, "status": status, "runs": len(statuses)})
    return pd.DataFrame(records).drop_duplicates(subset=keys)


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
    if not study.grid:
        study = replace(study, grid=_grid_from_parent(runs))
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
    return StudyAnalysis(
        study=study,
        runs=runs,
        table=table,
        deltas=deltas,
        delta_summary=summarize(deltas, "delta_m", [ARM, size]),
        ranks=mean_ranks(table, split=split, size=size),
        comparisons=compare_to_baselines(table, split=split, size=size),
        curves=data_efficiency(table, deltas, split=split, size=size),
        policy=policy,
        stability=seed_stability(policy) if not policy.empty else pd.DataFrame(),
        cells=grid_status(study, table),
        notes=notes,
        size_key=size,
        launch=which,
    )
