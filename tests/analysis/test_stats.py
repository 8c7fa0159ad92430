"""Statistics against hand-computed values on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from aimstudy.analysis import (
    compare_to_baselines,
    delta_m,
    holm,
    mean_ranks,
    rank_biserial,
    summarize,
)


def _table(rows: list[tuple[str, int, int, str, float]], status: str = "FINISHED") -> pd.DataFrame:
    """Tidy rows (method, n_train, seed, task, mae) on the test split, one run per method x seed."""
    frame = pd.DataFrame(rows, columns=["method", "n_train", "seed", "task", "mae"])
    frame["run_id"] = (
        frame["method"] + "-" + frame["n_train"].astype(str) + "-" + frame["seed"].astype(str)
    )
    frame["status"] = status
    frame["split"] = "test"
    return frame


def test_delta_m_matches_hand_computation() -> None:
    table = _table(
        [
            ("stl", 100, 0, "a", 1.0),
            ("stl", 100, 0, "b", 2.0),
            ("ls", 100, 0, "a", 1.1),
            ("ls", 100, 0, "b", 1.8),  # +10%, -10% -> 0
            ("aim", 100, 0, "a", 1.2),
            ("aim", 100, 0, "b", 2.2),  # +20%, +10% -> 15
        ]
    )
    dm = delta_m(table).set_index("arm")["delta_m"]
    assert dm["stl"] == pytest.approx(0.0)
    assert dm["ls"] == pytest.approx(0.0, abs=1e-12)
    assert dm["aim"] == pytest.approx(15.0)
    assert set(delta_m(table)["source"]) == {"stl"}


def test_delta_m_falls_back_to_stl_mean_then_logged_metric() -> None:
    table = _table(
        [
            ("stl", 100, 0, "a", 1.0),
            ("stl", 100, 1, "a", 3.0),  # seed mean 2.0
            ("ls", 100, 2, "a", 3.0),  # no STL with seed 2 -> +50% vs the mean
        ]
    )
    row = delta_m(table).set_index("arm").loc["ls"]
    assert row["delta_m"] == pytest.approx(50.0) and row["source"] == "stl-mean"
    no_stl = _table([("ls", 100, 0, "a", 1.0)]).assign(delta_m_logged=-4.5)
    logged = delta_m(no_stl).iloc[0]
    assert logged["delta_m"] == pytest.approx(-4.5) and logged["source"] == "logged"


def test_unfinished_trials_are_left_out_of_statistics() -> None:
    table = pd.concat(
        [
            _table([("stl", 100, 0, "a", 1.0), ("ls", 100, 0, "a", 2.0)]),
            _table([("aim", 100, 0, "a", 0.1)], status="FAILED"),
        ]
    )
    assert set(delta_m(table)["arm"]) == {"stl", "ls"}
    assert set(mean_ranks(table)["arm"]) == {"stl", "ls"}


def test_mean_ranks_average_ties() -> None:
    table = _table(
        [
            ("A", 100, 0, "a", 1.0),
            ("B", 100, 0, "a", 1.0),
            ("C", 100, 0, "a", 2.0),  # 1.5 1.5 3
            ("A", 100, 0, "b", 3.0),
            ("B", 100, 0, "b", 2.0),
            ("C", 100, 0, "b", 1.0),  # 3 2 1
        ]
    )
    ranks = mean_ranks(table).set_index("arm")["mean_rank"]
    assert ranks.to_dict() == pytest.approx({"A": 2.25, "B": 1.75, "C": 2.0})
    assert mean_ranks(table)["arm"].tolist() == ["B", "C", "A"]  # best first


def test_mean_ranks_use_the_mean_over_seeds() -> None:
    table = _table(
        [
            ("A", 100, 0, "a", 1.0),
            ("A", 100, 1, "a", 3.0),  # mean 2.0
            ("B", 100, 0, "a", 2.5),
            ("B", 100, 1, "a", 1.6),  # mean 2.05
        ]
    )
    assert mean_ranks(table).set_index("arm")["mean_rank"].to_dict() == {"A": 1.0, "B": 2.0}


def test_holm_by_hand() -> None:
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> monotone 0.06
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
    assert holm([0.6, 0.9]).tolist() == [1.0, 1.0]  # capped at 1


def test_rank_biserial_by_hand() -> None:
    # |d| ranks: 0.05->1, 0.1->2, 0.15->3, 0.2->4, 0.3->5; W+ = 1, W- = 14
    d = np.array([-0.1, -0.2, -0.3, 0.05, -0.15])
    assert rank_biserial(d) == pytest.approx(-13 / 15)
    assert rank_biserial(np.array([0.1, 0.2, 0.0])) == pytest.approx(1.0)  # zeros dropped
    assert np.isnan(rank_biserial(np.zeros(3)))


def test_comparison_uses_seeds_as_replicates_by_hand() -> None:
    # two tasks, three seeds; per-seed mean relative difference: -15%, -5%, -10%
    rel = {0: (-0.1, -0.2), 1: (0.0, -0.1), 2: (-0.05, -0.15)}
    rows = []
    for seed, ds in rel.items():
        for task, d in zip("ab", ds, strict=True):
            rows += [("ls", 100, seed, task, 2.0), ("aim-matrix", 100, seed, task, 2.0 * (1 + d))]
    out = compare_to_baselines(_table(rows))
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["arm"], row["baseline"], row["n_seeds"]) == ("aim-matrix", "ls", 3)
    assert (row["n_tasks"], row["wins"], row["losses"]) == (2, 2, 0)
    per_seed = np.array([-15.0, -5.0, -10.0])
    t = per_seed.mean() / (per_seed.std(ddof=1) / np.sqrt(3))  # -10 / (5 / sqrt 3)
    assert row["mean_rel_diff_pct"] == pytest.approx(-10.0)
    assert row["statistic"] == pytest.approx(t)
    assert row["p_value"] == pytest.approx(2 * stats.t.cdf(t, df=2))
    half = stats.t.ppf(0.975, 2) * 5.0 / np.sqrt(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-10.0 - half, -10.0 + half))
    assert row["p_holm"] == pytest.approx(row["p_value"])  # one comparison: unchanged


def test_one_seed_gives_an_effect_but_no_test() -> None:
    rows = []
    for task, d in zip("abcde", [-0.1, -0.2, -0.3, 0.05, -0.15], strict=True):
        rows += [("ls", 100, 0, task, 1.0), ("aim-matrix", 100, 0, task, 1.0 + d)]
    row = compare_to_baselines(_table(rows)).iloc[0]
    assert row["mean_rel_diff_pct"] == pytest.approx(-14.0) and row["n_seeds"] == 1
    assert np.isnan(row["p_value"]) and np.isnan(row["ci_low"])  # tasks are not replicates
    assert row["rank_biserial"] == pytest.approx(-13 / 15)  # descriptive, over the task pairs


def test_ablation_arms_are_compared_with_their_plain_arm() -> None:
    rows = []
    for seed in (0, 1):
        rows += [("ls", 100, seed, "a", 1.0), ("aim-matrix", 100, seed, "a", 0.9)]
        rows += [("aim-matrix λ_g=0", 100, seed, "a", 1.0 + 0.01 * seed)]
    table = _table(rows)
    table["arm"] = table["method"]
    table["method"] = table["method"].str.split().str[0]
    out = compare_to_baselines(table)
    pairs = set(zip(out["arm"], out["baseline"], strict=True))
    assert pairs == {
        ("aim-matrix", "ls"),
        ("aim-matrix λ_g=0", "ls"),
        ("aim-matrix λ_g=0", "aim-matrix"),
    }


def test_comparisons_are_holm_corrected_together_and_pooled() -> None:
    rows = []
    for n_train in (100, 1000):
        for seed, scale in ((0, 1.0), (1, 0.9)):
            for task, d in zip("abcdef", [-0.1, -0.2, -0.3, -0.4, -0.45, 0.05], strict=True):
                rows += [
                    ("ls", n_train, seed, task, 2.0),
                    ("stl", n_train, seed, task, 1.0),
                    ("aim-scalar", n_train, seed, task, 2.0 * (1 + d * scale)),
                ]
    out = compare_to_baselines(_table(rows))
    # 1 AIM x 2 baselines x (2 sizes + pooled) comparisons, Holm over all six
    assert len(out) == 6 and set(out["n_train"].astype(str)) == {"100", "1000", "all"}
    np.testing.assert_allclose(out["p_holm"], holm(out["p_value"].to_numpy()))
    assert (out["p_holm"] >= out["p_value"]).all()
    assert out[out["n_train"].astype(str) == "all"]["n_seeds"].tolist() == [4, 4]
    vs_stl = out[(out["baseline"] == "stl") & (out["n_train"] == 100)].iloc[0]
    assert vs_stl["losses"] == 6 and vs_stl["rank_biserial"] == pytest.approx(1.0)


def test_summarize_t_interval_by_hand() -> None:
    frame = pd.DataFrame({"g": ["x", "x", "x", "y"], "v": [1.0, 2.0, 3.0, 5.0]})
    out = summarize(frame, "v", ["g"]).set_index("g")
    half = 4.302652729911275 / np.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n), sd = 1
    assert out.loc["x", "mean"] == pytest.approx(2.0)
    assert out.loc["x", "ci_low"] == pytest.approx(2.0 - half)
    assert out.loc["x", "ci_high"] == pytest.approx(2.0 + half)
    assert out.loc["y", "n"] == 1 and np.isnan(out.loc["y", "ci_low"])
