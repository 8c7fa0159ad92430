"""Degenerate splits fail before training: an empty part, or a task without labels in a part."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimstudy.data import DataConfig, prepare
from aimstudy.data._splits import Split, check_parts, scaffold_split, split_sizes


def test_check_parts_names_the_empty_part_and_every_size() -> None:
    split = Split(test=np.arange(3), val=np.arange(0), train_order=np.arange(10))
    assert split_sizes(split) == {"train": 10, "val": 0, "test": 3}
    with pytest.raises(
        ValueError, match=r"^here leaves the val part empty \(train 10, val 0, test 3\)"
    ):
        check_parts(split, "here")
    both = Split(test=np.arange(0), val=np.arange(0), train_order=np.arange(4))
    with pytest.raises(ValueError, match="leaves the val and test parts empty"):
        check_parts(both, "here")
    check_parts(Split(np.arange(1), np.arange(1), np.arange(1)), "here")  # nothing empty


def test_scaffold_groups_larger_than_half_the_test_size_can_empty_val() -> None:
    """The case seen on Biogen ADME: a few big scaffold groups, a small test size."""
    scaffolds = ["c1ccccc1"] * 30 + ["C1CCCCC1"] * 30 + ["C1CCNCC1"] * 2
    split = scaffold_split(scaffolds, n_val=4, n_test=4, seed=0)
    assert split_sizes(split) == {"train": 60, "val": 0, "test": 2}  # small group: test
    with pytest.raises(ValueError, match="val part empty"):
        check_parts(split, "scaffold split")


@pytest.fixture
def alkanes(tmp_path: Path) -> Path:
    """40 distinct small molecules with a dense target `a` and a target `b` labelled on 4."""
    smiles = [("C" * (1 + k % 10)) + ("O" * (k // 10)) for k in range(40)]
    b = np.full(40, np.nan)
    b[[0, 1, 2, 3]] = 1.0
    path = tmp_path / "alkanes.csv"
    pd.DataFrame({"smiles": smiles, "a": np.arange(40.0), "b": b}).to_csv(path, index=False)
    return path


def test_prepare_refuses_an_empty_validation_part(alkanes: Path, tmp_path: Path) -> None:
    cfg = DataConfig(name="csv", path=alkanes, tasks=["a"], val_size=0.01, cache_dir=tmp_path)
    with pytest.raises(ValueError) as info:
        prepare(cfg, n_train=10, seed=0)
    message = str(info.value)
    assert "random split (seed 0) leaves the val part empty (train 36, val 0, test 4)" in message
    assert str(alkanes) in message and "\n" not in message


def test_prepare_refuses_a_part_without_labels_for_a_task(alkanes: Path, tmp_path: Path) -> None:
    """`b` has 4 labels: some seed leaves val or test without one (NaN MAE, silently)."""
    cfg = DataConfig(name="csv", path=alkanes, val_size=4, test_size=4, cache_dir=tmp_path)
    errors = []
    for seed in range(20):
        try:
            data = prepare(cfg, n_train=20, guidance_fraction=0.0, seed=seed)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        for part in (data.val, data.test):  # a split that passes has a label per task per part
            mask = np.concatenate([part[i].y_mask.numpy() for i in range(len(part))])
            assert mask.any(axis=0).all()
    assert errors, "no seed left a part without a label of b"
    pattern = (
        r"task\(s\) \['b'\] have no labelled molecule in the (val|test) part of csv's random "
        r"split \(seed \d+; train 32, val 4, test 4\)"
    )
    assert any(re.search(pattern, e) for e in errors), errors
    assert all(re.search(pattern, e) or "training subset" in e for e in errors), errors


def test_skipped_smiles_are_kept_first_few(tmp_path: Path) -> None:
    smiles = ["CCO", "bad1", "CCN", "bad2", None, "bad3", "bad4", "bad5", "bad6"] + [
        "C" * k for k in range(1, 20)
    ]
    path = tmp_path / "skipped.csv"
    pd.DataFrame({"smiles": smiles, "a": np.arange(len(smiles), dtype=float)}).to_csv(
        path, index=False
    )
    data = prepare(
        DataConfig(name="csv", path=path, val_size=2, test_size=2, cache_dir=tmp_path), seed=0
    )
    assert data.n_skipped == 7
    assert data.skipped_smiles == ["bad1", "bad2", "", "bad3", "bad4"]  # the first five
