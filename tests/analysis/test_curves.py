"""Curve figures honest at a few seeds: units on the axes, seeds as points, bands only where
they mean something and never below zero MAE, many arms split into readable figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection

from aimstudy.analysis import (
    arm_groups,
    data_efficiency,
    data_efficiency_figures,
    delta_m,
    plot_data_efficiency,
    seed_points,
    study_units,
)
from aimstudy.analysis._checks import MIN_SEEDS_FOR_INTERVAL
from aimstudy.data import report_units


def _table(maes: dict[tuple[str, int, int], list[float]], tasks: list[str]) -> pd.DataFrame:
    """Tidy finished test rows of a QM9 study: {(method, n_train, seed): MAE per task}."""
    rows = [
        (method, n, seed, task, mae)
        for (method, n, seed), values in maes.items()
        for task, mae in zip(tasks, values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["method", "n_train", "seed", "task", "mae"])
    frame["run_id"] = frame["method"] + "-" + frame["n_train"].astype(str) + "-"
    frame["run_id"] += frame["seed"].astype(str)
    frame["arm"] = frame["method"]
    return frame.assign(status="FINISHED", split="test", **{"dataset.name": "qm9"})


def _study(seeds: int, spread: float = 0.02) -> pd.DataFrame:
    """stl and aim-matrix at n_train 100 and 1000 with `seeds` seeds over mu, U0, alpha."""
    rng = np.random.default_rng(0)
    base = np.array([1.0, 10.0, 2.0])
    maes = {
        (m, n, s): list(scale * base * (n / 100) ** -0.3 + spread * rng.random(3))
        for m, scale in (("stl", 1.0), ("aim-matrix", 0.9))
        for n in (100, 1000)
        for s in range(seeds)
    }
    return _table(maes, ["mu", "U0", "alpha"])


def _collections(ax, kind: type) -> list:  # noqa: ANN001
    return [c for c in ax.collections if isinstance(c, kind)]


def test_task_units_from_the_dataset_registry() -> None:
    assert report_units("qm9", ["mu", "U0", "alpha", "nope"]) == {
        "mu": "D",
        "U0": "meV",
        "alpha": "a0^3",
    }
    assert report_units("biogen", ["solubility"]) == {"solubility": "log10(ug/mL)"}
    assert report_units("csv", ["logS (mol/L)", "y"]) == {"logS (mol/L)": "mol/L"}
    assert study_units(_study(2)) == {"mu": "D", "U0": "meV", "alpha": "a0^3"}


def test_axes_carry_units_and_the_size_label() -> None:
    table = _study(3)
    points = data_efficiency(table, delta_m(table))
    fig = plot_data_efficiency(points, study_units(table), seed_points(table, delta_m(table)))
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert axes["mu"].get_ylabel() == "test MAE (D)"
    assert axes["U0"].get_ylabel() == "test MAE (meV)"
    assert axes["alpha"].get_ylabel() == "test MAE (a0³)"
    assert axes["Δm%"].get_ylabel().startswith("Δm% vs STL (%")
    assert {ax.get_xlabel() for ax in axes.values()} == {"training molecules (n_train)"}
    no_units = plot_data_efficiency(points)
    assert no_units.axes[0].get_ylabel() == "test MAE (unit not recorded)"  # says so, no guess


def test_each_seed_is_a_point_and_the_title_says_how_made() -> None:
    table = _study(3)
    seeds = seed_points(table)
    fig = plot_data_efficiency(data_efficiency(table), seeds=seeds)
    ax = next(a for a in fig.axes if a.get_title() == "mu")
    scatters = _collections(ax, PathCollection)
    assert len(scatters) == 2  # one per arm
    assert sum(len(c.get_offsets()) for c in scatters) == 2 * 2 * 3  # arms x sizes x seeds
    title = fig.get_suptitle()
    assert "mean of 3 seeds" in title and "points = seeds" in title
    assert "band = 95% t-interval over seeds" in title


def test_no_band_with_two_seeds() -> None:
    table = _study(2)
    fig = plot_data_efficiency(data_efficiency(table), seeds=seed_points(table))
    for ax in fig.axes:
        assert not _collections(ax, PolyCollection) and not _collections(ax, LineCollection)
    assert "no interval: 2 seeds" in fig.get_suptitle()


def test_band_never_below_zero_mae() -> None:
    maes = {("stl", n, s): [v] for n in (100, 1000) for s, v in enumerate([0.05, 0.05, 4.0])}
    table = _table(maes, ["mu"])
    points = data_efficiency(table)
    assert (points["ci_low"] < 0).all() and (points["n"] >= MIN_SEEDS_FOR_INTERVAL).all()
    ax = plot_data_efficiency(points, seeds=seed_points(table)).axes[0]
    bands = _collections(ax, PolyCollection)
    assert bands  # drawn, since 3 seeds
    lowest = min(float(p.vertices[:, 1].min()) for c in bands for p in c.get_paths())
    assert lowest == pytest.approx(0.0, abs=1e-12) and lowest >= 0.0


def test_many_arms_are_split_and_each_group_keeps_the_baselines() -> None:
    arms = [f"aim-matrix λ_g={k}" for k in range(13)] + ["ls", "stl"]
    groups = arm_groups(arms, baselines=["ls", "stl"], max_arms=8)
    assert len(groups) == 3 and all(len(g) <= 8 and {"ls", "stl"} <= set(g) for g in groups)
    assert set().union(*groups) == set(arms)
    assert arm_groups(arms[:5]) == [sorted(arms[:5])]  # few arms: one figure


def test_report_curves_for_an_ablation_stay_readable() -> None:
    maes = {
        (m, n, s): [1.0 + 0.01 * k + 0.01 * s]
        for k, m in enumerate([*(f"aim-{k}" for k in range(11)), "ls", "stl"])
        for n in (100, 1000)
        for s in range(2)
    }
    table = _table(maes, ["mu"])
    dm = delta_m(table)
    figures = data_efficiency_figures(
        data_efficiency(table, dm), seed_points(table, dm), baselines=["ls", "stl"]
    )
    assert set(figures) == {"data_efficiency_1", "data_efficiency_2", "delta_m"}
    for name, fig in figures.items():
        assert len(fig.legends) == 1  # one legend, outside the panels
        assert all(ax.get_legend() is None for ax in fig.axes)
        if name != "delta_m":
            assert len(fig.legends[0].get_texts()) <= 8
    delta_axes = [ax for ax in figures["delta_m"].axes if ax.get_visible()]
    assert len(delta_axes) == 2 and all("(%" in ax.get_ylabel() for ax in delta_axes)
