"""Metric arithmetic: report units, normalized MAE, Δm%, per-epoch diagnostic means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aimstudy.train import best_metrics
from aimstudy.train._diagnostics import EpochDiagnostics, split_diagnostics
from aimstudy.train._metrics import delta_m, split_metrics


def test_split_metrics_report_units_and_norm() -> None:
    out = split_metrics(
        "val",
        abs_sum=np.array([2.0, 9.0, 0.0]),
        count=np.array([4.0, 3.0, 0.0]),
        std=np.array([0.5, 6.0, 1.0]),
        task_names=["homo", "mu", "empty"],
        report_factors=[1000.0, 1.0, 1.0],
    )
    assert out["val/mae/homo"] == pytest.approx(500.0)  # 0.5 eV -> meV
    assert out["val/mae/mu"] == pytest.approx(3.0)
    assert math.isnan(out["val/mae/empty"])  # no labels: NaN, left out of the mean
    assert out["val/norm_mae"] == pytest.approx((0.5 / 0.5 + 3.0 / 6.0) / 2)


def test_delta_m_by_hand() -> None:
    metrics = {"test/mae/a": 1.1, "test/mae/b": 1.8}
    assert delta_m(metrics, {"a": 1.0, "b": 2.0}) == pytest.approx((10.0 - 10.0) / 2)
    assert delta_m(metrics, {"a": 1.0}) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="unknown task"):
        delta_m(metrics, {"c": 1.0})


def test_epoch_means_skip_non_finite_entries() -> None:
    acc = EpochDiagnostics()
    acc.add({"cosine": torch.tensor([[1.0, float("nan")], [0.5, 1.0]]), "mean_tau": 1.0})
    acc.add({"cosine": torch.tensor([[1.0, -1.0], [-0.5, 1.0]]), "mean_tau": 3.0, "x": "text"})
    metrics, matrices = split_diagnostics(acc.means(), ["a", "b"])
    assert metrics == {"policy/mean_tau": 2.0}
    np.testing.assert_allclose(matrices["cosine"], [[1.0, -1.0], [0.0, 1.0]])


def test_best_metrics_picks_best_row_and_per_task_for_stl() -> None:
    history = [
        {
            "epoch": 1.0,
            "val/mae/a": 1.0,
            "val/mae/b": 5.0,
            "test/mae/a": 10.0,
            "test/mae/b": 50.0,
            "train/mae/a": 0.0,
            "train/mae/b": 0.0,
            "val/norm_mae": 3.0,
        },
        {
            "epoch": 2.0,
            "val/mae/a": 2.0,
            "val/mae/b": 1.0,
            "test/mae/a": 20.0,
            "test/mae/b": 10.0,
            "train/mae/a": 0.0,
            "train/mae/b": 0.0,
            "val/norm_mae": 1.5,
        },
    ]
    joint = best_metrics(history, 2, ["a", "b"], "ls")
    assert joint["best/epoch"] == 2 and joint["best/test/mae/a"] == 20.0
    stl = best_metrics(history, 2, ["a", "b"], "stl")
    assert stl["best/test/mae/a"] == 10.0 and stl["best/test/mae/b"] == 10.0


def test_early_stopping_counts_and_resumes_with_new_patience() -> None:
    from aimstudy.train._early_stopping import EarlyStopping

    es = EarlyStopping(patience=2)
    assert es.update(1, float("nan"))  # the first epoch is always the best so far
    assert es.update(2, 0.5)
    assert not es.update(3, 0.5)  # equal is not better
    assert not es.stopped
    assert not es.update(4, float("nan"))
    assert es.stopped and es.best_epoch == 2
    more = EarlyStopping(patience=5)
    more.load_state_dict(es.state_dict())
    assert not more.stopped and more.best_value == 0.5 and more.bad_epochs == 2
