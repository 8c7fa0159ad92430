"""Arms (what a report compares) and launches (which runs it reads)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from aimstudy.analysis import analyse, open_study
from aimstudy.analysis._analysis import _grid_from_parents
from aimstudy.analysis._arms import grid_columns, label_arms, select_launch
from tests.analysis.synthetic import make_study


def _trials(rows: list[dict]) -> pd.DataFrame:
    """One row per trial (run_id r0, r1, ...) with config columns as a results table has."""
    frame = pd.DataFrame(rows)
    frame["run_id"] = [f"r{k}" for k in range(len(frame))]
    frame["status"] = "FINISHED"
    return frame


def test_arms_differ_only_in_method_options() -> None:
    rows = []
    for seed in (0, 1):
        for n_train in (100, 1000):
            rows += [
                {"method": "aim-matrix", "method_options": "{}", "n_train": n_train, "seed": seed},
                {
                    "method": "aim-matrix",
                    "method_options.lambda_g": 0.0,
                    "n_train": n_train,
                    "seed": seed,
                },
                {
                    "method": "aim-matrix",
                    "method_options.learn_policy": False,
                    "n_train": n_train,
                    "seed": seed,
                },
                {"method": "pcgrad", "method_options": "{}", "n_train": n_train, "seed": seed},
            ]
    table, size = label_arms(_trials(rows))
    assert size == "n_train"
    assert sorted(table["arm"].unique()) == [
        "aim-matrix",
        "aim-matrix learn_τ=false",
        "aim-matrix λ_g=0",
        "pcgrad",
    ]
    assert table.groupby("arm")["seed"].count().eq(4).all()  # 2 seeds x 2 sizes each


def test_labels_leave_out_the_value_most_arms_share() -> None:
    rows = [
        {"method": m, "guidance_fraction": h, "n_train": 100, "seed": 0}
        for m, h in (("aim-matrix", 0.1), ("aim-matrix", 0.05), ("aim-matrix", 0.2), ("ls", 0.1))
    ]
    table, _ = label_arms(_trials(rows))
    assert list(table["arm"]) == ["aim-matrix", "aim-matrix h=0.05", "aim-matrix h=0.2", "ls"]
    tied = [{"method": "ls", "model": m, "n_train": 100, "seed": 0} for m in ("gin", "mpnn")]
    assert list(label_arms(_trials(tied))[0]["arm"]) == ["ls model=gin", "ls model=mpnn"]


def test_size_key_is_whatever_the_study_varies() -> None:
    rows = [
        {"method": m, "dataset.limit": limit, "n_train": 50, "seed": 0}
        for m in ("ls", "pcgrad")
        for limit in (500, 5000)
    ]
    table, size = label_arms(_trials(rows))
    assert size == "dataset.limit" and set(table["arm"]) == {"ls", "pcgrad"}


def test_keys_outside_the_grid_do_not_make_arms() -> None:
    # an Optuna search varies λ_m per trial; the grid only varies the method
    rows = [
        {"method": m, "method_options.lambda_m": lm, "n_train": 100, "seed": 0}
        for m, lm in (("aim-matrix", 0.001), ("aim-matrix", 0.01), ("ls", None))
    ]
    table, _ = label_arms(_trials(rows), grid_columns({"method": ["aim-matrix", "ls"]}))
    assert set(table["arm"]) == {"aim-matrix", "ls"}
    searched, _ = label_arms(_trials(rows))  # grid unknown: every varying key counts
    assert searched["arm"].nunique() == 3


def test_explicit_cells_in_a_grid_name_their_keys() -> None:
    grid = {"cells": [{"method": "pcgrad"}, {"method": "aim-matrix", "method_options": {}}]}
    assert set(grid_columns(grid)) == {"cells", "method", "method_options"}


def test_runner_derived_config_does_not_make_arms() -> None:
    rows = [
        {"method": "ls", "stl_reference.mu": ref, "n_train": 100, "seed": seed}
        for seed, ref in ((0, 0.5), (1, 0.6))
    ]
    table, _ = label_arms(_trials(rows))
    assert set(table["arm"]) == {"ls"}


def test_select_launch_latest_by_id_or_all() -> None:
    t0, t1 = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-02", tz="UTC")
    runs = pd.DataFrame(
        [
            {"run_id": "aaaaaaaa1", "parent_run_id": None, "role": "study", "start_time": t0},
            {"run_id": "x1", "parent_run_id": "aaaaaaaa1", "role": "trial", "start_time": t0},
            {"run_id": "bbbbbbbb2", "parent_run_id": None, "role": "study", "start_time": t1},
            {"run_id": "x2", "parent_run_id": "bbbbbbbb2", "role": "trial", "start_time": t1},
        ]
    )
    latest, note = select_launch(runs)
    assert set(latest["run_id"]) == {"bbbbbbbb2", "x2"} and "latest of 2" in note
    first, _ = select_launch(runs, "aaaaaaaa")
    assert set(first["run_id"]) == {"aaaaaaaa1", "x1"}
    pooled, note = select_launch(runs, "all")
    assert len(pooled) == 4 and "pooled" in note
    with pytest.raises(ValueError, match=r"--launch 'nope': no such launch .*bbbbbbbb2"):
        select_launch(runs, "nope")


def test_report_reads_the_latest_launch_unless_asked(tmp_path: Path) -> None:
    folder = tmp_path / "twice"
    first = make_study(folder, name="twice", sizes=[100], seeds=[0], failed=0, missing_seed=None)
    second = make_study(
        folder, name="twice", sizes=[100], seeds=[0, 1], failed=0, missing_seed=None
    )
    study = open_study(folder)
    n_methods = 3
    latest = analyse(study, with_policy=False)
    assert latest.table["run_id"].nunique() == 2 * n_methods
    assert latest.parent_run_id == second["parent"]
    old = analyse(study, with_policy=False, launch=first["parent"])
    assert old.table["run_id"].nunique() == n_methods and old.parent_run_id == first["parent"]
    pooled = analyse(study, with_policy=False, launch="all")
    assert pooled.table["run_id"].nunique() == 3 * n_methods
    assert any("pooled all 2 launch(es)" in note for note in pooled.notes)


def test_pooled_launches_label_arms_by_the_union_of_their_grids() -> None:
    """`--launch all` over a launch that varied method_options and one that added a method:
    the first launch's keys still name its arms."""
    t0, t1 = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-02", tz="UTC")
    first = {"arms": [{"method": "aim-matrix"}, {"method_options": {"learn_policy": False}}]}
    first |= {"seed": [0, 1]}
    second = {"arms": [{"method": "fingerprint-rf"}], "seed": [0, 1]}
    runs = pd.DataFrame(
        [
            {"run_id": "p1", "role": "study", "start_time": t0, "param:grid": json.dumps(first)},
            {"run_id": "p2", "role": "study", "start_time": t1, "param:grid": json.dumps(second)},
        ]
    )
    grid = _grid_from_parents(runs)
    assert grid["seed"] == [0, 1] and len(grid["arms"]) == 3
    assert "method_options" in grid_columns(grid)
