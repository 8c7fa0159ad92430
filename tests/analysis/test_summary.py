"""The plain-language summary and the stability warnings of the policy figures."""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd
import pytest

from aimstudy.analysis import (
    choose_policy_group,
    compare_to_baselines,
    group_policy,
    plot_dendrograms,
    plot_policy_heatmaps,
    report_figures,
    stability_of,
    summary_lines,
)
from aimstudy.analysis._checks import UNDERTRAINED_NOTE, format_spearman


def _comparisons() -> pd.DataFrame:
    """aim-matrix vs pcgrad: at n_train=500 two seeds that disagree (not significant), at 1000
    three seeds that agree on about −10% (significant after Holm)."""
    rel = {(500, 0): 0.8, (500, 1): 1.18, (1000, 0): 0.90, (1000, 1): 0.89, (1000, 2): 0.91}
    rows = []
    for (n, seed), factor in rel.items():
        for task, base in (("a", 1.0), ("b", 2.0)):
            rows += [("pcgrad", n, seed, task, base), ("aim-matrix", n, seed, task, base * factor)]
    table = pd.DataFrame(rows, columns=["method", "n_train", "seed", "task", "mae"])
    table["run_id"] = table["method"] + table["n_train"].astype(str) + table["seed"].astype(str)
    return compare_to_baselines(table.assign(status="FINISHED", split="test"))


def test_summary_says_what_is_not_significant(synthetic_analysis) -> None:  # noqa: ANN001
    lines = summary_lines(replace(synthetic_analysis, comparisons=_comparisons()))
    text = "\n".join(lines)
    assert "The replicate is the seed" in lines[0]
    nonsig = r"at n_train=500, aim-matrix vs pcgrad: -1\.0% \(95% CI -\d+\.\d to \+\d+\.\d\), "
    assert re.search(nonsig + r"p=0\.\d+ \(Holm\): not significant with 2 seeds\.", text)
    sig = r"at n_train=1000, aim-matrix vs pcgrad: -10\.0% \(95% CI -1\d\.\d to -\d\.\d\), "
    assert re.search(sig + r"p=0\.0\d+ \(Holm\): significant, aim-matrix better\.", text)


def test_summary_names_best_arms_and_warnings(synthetic_analysis) -> None:  # noqa: ANN001
    stability = pd.DataFrame(
        {
            "arm": ["aim-matrix", "aim-matrix"],
            "n_train": [100, 1000],
            "n_seeds": [3, 2],
            "mean_spearman": [0.25, 0.8],
            "min_spearman": [0.1, 0.8],
        }
    )
    analysis = replace(synthetic_analysis, stability=stability, correlated=[["U0", "U", "H", "G"]])
    lines = summary_lines(analysis)
    assert any(line.startswith("At n_train=100: lowest Δm% aim-matrix (") for line in lines)
    undertrained = next(line for line in lines if UNDERTRAINED_NOTE in line)
    # the synthetic ls trials peak before their last epoch, the others at it
    assert "aim-matrix 5/5" in undertrained and "stl 6/6" in undertrained
    assert not re.search(r"\bls \d", undertrained) and undertrained.startswith("Warning: 11 of 17")
    unstable = [line for line in lines if "not reproducible" in line]
    assert unstable == [
        "Warning: τ pattern of aim-matrix at n_train=100 not reproducible across seeds "
        "(Spearman 0.25): do not read task relations from it."
    ]
    assert any(
        line.startswith("Tasks U0, U, H, G move together (Spearman ≥ 0.9")
        and "not independent evidence" in line
        for line in lines
    )


def test_heatmap_and_dendrogram_carry_the_seed_stability(synthetic_analysis) -> None:  # noqa: ANN001
    group = choose_policy_group(synthetic_analysis.policy)
    chosen = group_policy(synthetic_analysis.policy, *group)
    for plot in (plot_policy_heatmaps, plot_dendrograms):
        shaky = plot(chosen, stability=0.25)
        assert "not reproducible across seeds (Spearman 0.25)" in shaky.get_suptitle()
        assert shaky._suptitle.get_color() == "tab:red"
        steady = plot(chosen, stability=0.9)
        assert "Spearman 0.90 between seeds" in steady.get_suptitle()
        assert "not reproducible" not in steady.get_suptitle()
        assert "not measured" in plot(chosen).get_suptitle()


def test_report_heatmap_shows_the_stability_table_value(synthetic_analysis) -> None:  # noqa: ANN001
    study = replace(synthetic_analysis.study, optuna_storage=None)
    analysis = replace(synthetic_analysis, study=study)
    figures, _ = report_figures(analysis)
    arm, size = choose_policy_group(analysis.policy)
    rho = stability_of(analysis.stability, arm, size)
    assert rho is not None and rho == pytest.approx(
        analysis.stability.set_index(["arm", "n_train"]).loc[(arm, size), "mean_spearman"]
    )
    assert f"Spearman {format_spearman(rho)}" in figures["policy_heatmaps"].get_suptitle()
    assert f"{arm} at n_train={size}, mean of 3 seeds" in figures["task_dendrograms"].get_suptitle()


def test_summary_says_when_no_arm_beats_the_reference(synthetic_analysis) -> None:  # noqa: ANN001
    worse = synthetic_analysis.delta_summary.copy()
    worse["mean"] = worse["mean"].where(worse["arm"] == "stl", worse["mean"].abs() + 1.0)
    lines = summary_lines(replace(synthetic_analysis, delta_summary=worse))
    line = next(line for line in lines if line.startswith("At n_train=100:"))
    assert "no arm beats STL, lowest Δm% " in line and "lowest Δm% stl" not in line
