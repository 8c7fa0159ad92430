"""Policy matrices as a long table; heatmaps as real PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aimstudy.tracking import policy_frame, write_heatmap


def test_policy_frame_is_long_and_round_trips() -> None:
    tau = np.array([[0.0, 0.5], [-0.25, 0.0]])  # [T, T]
    cosine = np.array([[1.0, -0.3], [-0.3, 1.0]])
    frame = policy_frame([(1, "tau", tau), (2, "cosine", cosine)], ["a", "b"])
    assert list(frame.columns) == ["matrix", "epoch", "task_i", "task_j", "value"]
    assert len(frame) == 8
    back = frame[frame.matrix == "tau"].pivot(index="task_i", columns="task_j", values="value")
    np.testing.assert_allclose(back.loc[["a", "b"], ["a", "b"]].to_numpy(), tau)
    row = frame[(frame.matrix == "tau") & (frame.task_i == "b") & (frame.task_j == "a")]
    assert row.value.item() == -0.25 and row.epoch.item() == 1


def test_policy_frame_rejects_a_wrong_shape_and_is_empty_without_rows() -> None:
    with pytest.raises(ValueError, match="tau.*epoch 3.*shape"):
        policy_frame([(3, "tau", np.zeros((2, 3)))], ["a", "b"])
    empty = policy_frame([], ["a"])
    assert empty.empty and list(empty.columns)[0] == "matrix"


def test_heatmap_is_a_png(tmp_path: Path) -> None:
    values = np.random.default_rng(0).uniform(-1, 1, size=(3, 3))
    path = write_heatmap(values, ["x", "y", "z"], "cosine (epoch 1)", tmp_path / "h" / "c.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    write_heatmap(np.full((2, 2), np.nan), ["x", "y"], "tau (epoch 2)", tmp_path / "nan.png")
    assert (tmp_path / "nan.png").stat().st_size > 0
