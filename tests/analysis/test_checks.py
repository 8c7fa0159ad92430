"""Undertrained trials, correlated tasks and intervals that say how they were made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aimstudy.analysis import (
    correlated_groups,
    summarize,
    task_correlation,
    trial_epochs,
    undertrained,
    with_interval_note,
)
from aimstudy.analysis._checks import UNDERTRAINED_NOTE, format_spearman


def _trials(best: list[int], epochs: list[int], arm: str = "aim-matrix") -> pd.DataFrame:
    """One finished test row per trial with its best epoch and epoch budget."""
    return pd.DataFrame(
        {
            "run_id": [f"{arm}-{k}" for k in range(len(best))],
            "arm": arm,
            "status": "FINISHED",
            "best_epoch": [float(b) for b in best],
            "epochs": epochs,
            "task": "mu",
            "split": "test",
            "mae": 1.0,
        }
    )


def test_undertrained_tells_a_peak_at_the_last_epoch_from_an_earlier_one() -> None:
    table = pd.concat([_trials([100, 60], [100, 100]), _trials([40, 50], [50, 80], arm="ls")])
    out = undertrained(table).set_index("arm")
    assert out.loc["aim-matrix", "at_last_epoch"] == 1 and out.loc["aim-matrix", "finished"] == 2
    assert out.loc["aim-matrix", "note"] == UNDERTRAINED_NOTE
    assert out.loc["ls", "at_last_epoch"] == 0 and out.loc["ls", "note"] == ""


def test_last_logged_epoch_wins_over_the_epochs_param() -> None:
    # resumed with more epochs: the param still says 50, the run logged epochs up to 80
    table = _trials([50], [50])
    runs = pd.DataFrame({"run_id": ["aim-matrix-0"], "metric:epoch": [80.0]})
    assert not trial_epochs(table, runs)["at_last"].iloc[0]
    assert trial_epochs(table)["at_last"].iloc[0]
    unknown = table.drop(columns="epochs")  # no param, nothing logged: not flagged, not counted
    assert undertrained(unknown).empty


def _correlated_table() -> pd.DataFrame:
    """a and b rise and fall together over trials, c is unrelated; two sizes."""
    rng = np.random.default_rng(1)
    rows = []
    for n, scale in ((100, 1.0), (1000, 0.3)):
        shared = rng.random(8)
        for k in range(8):
            other = rng.random()
            for task, value in (("a", shared[k]), ("b", 2 * shared[k] + 0.01), ("c", other)):
                rows.append((f"r{n}-{k}", n, task, scale * (1 + value)))
    frame = pd.DataFrame(rows, columns=["run_id", "n_train", "task", "mae"])
    return frame.assign(status="FINISHED", split="test", arm="x", seed=0, method="x")


def test_correlated_tasks_are_grouped_within_sizes() -> None:
    corr = task_correlation(_correlated_table())
    assert corr.loc["a", "b"] == pytest.approx(1.0) and abs(corr.loc["a", "c"]) < 0.9
    assert correlated_groups(corr) == [["a", "b"]]
    assert correlated_groups(corr, threshold=1.01) == []


def test_interval_blanked_and_labelled_below_three_seeds() -> None:
    frame = pd.DataFrame({"arm": ["x", "x", "y", "y", "y"], "v": [1.0, 3.0, 1.0, 2.0, 3.0]})
    out = with_interval_note(summarize(frame, "v", ["arm"])).set_index("arm")
    assert np.isnan(out.loc["x", "ci_low"]) and out.loc["x", "interval"].startswith("none: 2")
    assert out.loc["y", "ci_low"] < 2.0 < out.loc["y", "ci_high"]
    assert out.loc["y", "interval"] == "95% t-interval over 3 seeds"


def test_spearman_never_prints_onto_the_threshold() -> None:
    assert format_spearman(0.499) == "0.499" and format_spearman(0.25) == "0.25"
