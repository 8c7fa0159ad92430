"""Figures, policy diagnostics and the `aimstudy report` command on the synthetic study."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from aimstudy.analysis import (
    analyse,
    data_efficiency,
    delta_m,
    open_study,
    plot_dendrograms,
    plot_policy_heatmaps,
    policy_matrix,
    report_figures,
    seed_stability,
    select_epochs,
    tuning_views,
)
from aimstudy.cli import main


def _policy(seed_values: dict[int, list[float]]) -> pd.DataFrame:
    """A 3-task τ table at one epoch, off-diagonal values per seed in row-major order."""
    pairs = [(i, j) for i in "abc" for j in "abc" if i != j]
    rows = [
        ("tau", 5, i, j, v, seed, "aim-matrix", 100)
        for seed, values in seed_values.items()
        for (i, j), v in zip(pairs, values, strict=True)
    ]
    return pd.DataFrame(
        rows, columns=["matrix", "epoch", "task_i", "task_j", "value", "seed", "method", "n_train"]
    )


def test_select_epochs() -> None:
    assert select_epochs(range(1, 121)) == [10, 50, 100]  # the paper's epochs when logged
    assert select_epochs([1, 2, 3, 4, 5, 6]) == [1, 4, 6]
    assert select_epochs([3]) == [3] and select_epochs([]) == []


def test_policy_matrix_means_seeds_and_blanks_tau_diagonal() -> None:
    policy = _policy({0: [1, 2, 3, 4, 5, 6], 1: [3, 2, 1, 4, 5, 6]})
    labels, tau = policy_matrix(policy, "tau", epoch=5)
    assert labels == ["a", "b", "c"]
    assert tau[0, 1] == 2.0 and tau[0, 2] == 2.0 and tau[2, 1] == 6.0
    assert np.isnan(np.diag(tau)).all()


def test_seed_stability_spearman_by_hand() -> None:
    same = seed_stability(_policy({0: [1, 2, 3, 4, 5, 6], 1: [10, 20, 30, 40, 50, 60]}))
    assert same.iloc[0]["mean_spearman"] == pytest.approx(1.0) and same.iloc[0]["n_seeds"] == 2
    reversed_ = seed_stability(_policy({0: [1, 2, 3, 4, 5, 6], 1: [6, 5, 4, 3, 2, 1]}))
    assert reversed_.iloc[0]["mean_spearman"] == pytest.approx(-1.0)


def test_seed_stability_compares_each_seeds_own_last_epoch() -> None:
    """Early stopping ends seeds at different epochs: seed 0 stops at epoch 5, seed 1 runs on
    to epoch 9 (its epoch-5 map is reversed, its last one agrees with seed 0)."""
    early = _policy({0: [1, 2, 3, 4, 5, 6], 1: [6, 5, 4, 3, 2, 1]})
    later = _policy({1: [10, 20, 30, 40, 50, 60]}).assign(epoch=9)
    stability = seed_stability(pd.concat([early, later], ignore_index=True))
    assert stability.iloc[0]["n_seeds"] == 2
    assert stability.iloc[0]["mean_spearman"] == pytest.approx(1.0)


def test_heatmaps_and_dendrograms_need_matrices() -> None:
    empty = _policy({0: [1, 2, 3, 4, 5, 6]}).iloc[0:0]
    with pytest.raises(ValueError, match="none of the matrices"):
        plot_policy_heatmaps(empty)
    with pytest.raises(ValueError, match="at least two tasks"):
        plot_dendrograms(empty)


def test_tuning_views_of_a_two_objective_study(synthetic_study) -> None:  # noqa: ANN001
    folder, _ = synthetic_study
    views = {v.kind: v for v in tuning_views(open_study(folder).optuna_storage)}
    assert set(views) == {"history", "importances", "pareto"}
    assert all(v.figure is not None for v in views.values())
    assert len(views["pareto"].figure.axes[0].collections) >= 1  # the trials are drawn


def _png_ok(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_command_writes_html_markdown_figures_and_logs_artifact(
    synthetic_study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # noqa: ANN001
    folder, ids = synthetic_study
    out = tmp_path / "report"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "17 finished, 1 failed" in printed and ids["parent"] in printed
    figures = {p.stem: p for p in (out / "figures").glob("*.png")}
    for name in (
        "data_efficiency",
        "delta_m",
        "policy_heatmaps",
        "policy_evolution",
        "task_dendrograms",
        "tuning_history_synthetic",
        "tuning_pareto_synthetic",
    ):
        assert _png_ok(figures[name]), name
    page = (out / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(figures) and "<script" not in page  # self-contained, static
    assert base64.b64decode(images[0])[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert md.index("## Summary") < md.index("## Trials")  # the summary opens the report
    assert "- The replicate is the seed" in md and "undertrained: raise epochs." in md
    assert "## Trials that peaked at their last epoch" in md
    assert "| aim-matrix | 5 | 5 | undertrained: raise epochs |" in md and "| ls | 6 | 0 |" in md
    assert "none: 2 seeds (needs ≥ 3)" in md  # the Δm% table says why it shows no interval
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Trials</h2>")
    assert '<li class="warn">Warning:' in page
    assert "## Δm% vs STL" in md and "| aim-matrix | 100 |" in md
    assert "| aim-matrix | 1000 | 2 | failed | 1 |" in md and "missing" in md
    assert pd.read_parquet(out / "results.parquet")["run_id"].nunique() == 18
    client = MlflowClient(tracking_uri=ids["uri"])
    logged = {a.path for a in client.list_artifacts(ids["parent"], "report")}
    assert {"report/report.html", "report/report.md", "report/results.parquet"} <= logged


def test_report_command_bad_study_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aimstudy report: error:") and "\n" not in err


def test_report_figures_of_a_study_without_stl_or_policy(synthetic_study) -> None:  # noqa: ANN001
    folder, _ = synthetic_study
    full = analyse(open_study(folder), with_policy=False)
    bare = replace(full, table=full.table[full.table["method"] == "ls"], policy=pd.DataFrame())
    bare = replace(bare, deltas=delta_m(bare.table), curves=data_efficiency(bare.table))
    figures, notes = report_figures(replace(bare, study=replace(bare.study, optuna_storage=None)))
    assert set(figures) == {"data_efficiency"}  # curves still drawn, nothing else invented
    assert any("no trial logged a τ matrix" in n for n in notes)
    assert bare.deltas.empty
