"""`split: column`: a file's train/val/test column is honoured; n_train nests in its train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from aimstudy.data import DataConfig, prepare
from aimstudy.data._csv import BIOGEN_FILE, read_parts
from aimstudy.data._splits import column_split

N_ROWS = 300  # the first rows of the shipped Biogen file: featurized in about a second
MIXED_CASE = {"train": " Train", "val": "VAL", "test": "test "}  # case and spaces are ignored


def _parts(n: int) -> np.ndarray:
    """A fixed, non-random assignment: every 5th row test, every 7th (not 5th) val."""
    rows = np.arange(n)
    return np.where(rows % 5 == 0, "test", np.where(rows % 7 == 0, "val", "train"))


@pytest.fixture(scope="module")
def split_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Biogen's first N_ROWS compounds with a `split` column written in mixed case."""
    frame = pd.read_csv(BIOGEN_FILE).head(N_ROWS)
    frame["split"] = [MIXED_CASE[p] for p in _parts(N_ROWS)]
    path = tmp_path_factory.mktemp("split") / "biogen-split.csv"
    frame.to_csv(path, index=False)
    return path


def _cfg(path: Path, cache: Path, name: str = "biogen", **kw: object) -> DataConfig:
    opts: dict[str, object] = {"split": "column", "split_column": "split", **kw}
    return DataConfig(name=name, path=path, cache_dir=cache, **opts)


def test_given_test_and_val_molecules_are_kept_exactly(split_csv: Path, data_cache: Path) -> None:
    frame = pd.read_csv(split_csv)
    given = _parts(N_ROWS)
    for seed in (0, 1):
        data = prepare(_cfg(split_csv, data_cache), n_train=100, guidance_fraction=0.1, seed=seed)
        for part in ("test", "val"):
            rows = np.flatnonzero(given == part)
            assert np.array_equal(data.rows[part], rows)
            graphs = getattr(data, part)
            ids = [int(graphs[i].mol_id) for i in range(len(graphs))]
            assert frame["SMILES"].iloc[ids].tolist() == frame["SMILES"].iloc[rows].tolist()
        train_part = set(np.flatnonzero(given == "train").tolist())
        assert set(data.rows["train"]) | set(data.rows["guide"]) <= train_part
        assert (len(data.train), len(data.guide)) == (90, 10)


def test_n_train_subsets_nest_within_the_given_train_part(
    split_csv: Path, data_cache: Path
) -> None:
    small = prepare(_cfg(split_csv, data_cache), n_train=50, guidance_fraction=0.2, seed=3)
    big = prepare(_cfg(split_csv, data_cache), n_train=150, guidance_fraction=0.2, seed=3)
    other = prepare(_cfg(split_csv, data_cache), n_train=50, guidance_fraction=0.2, seed=4)
    assert set(small.rows["train"]) <= set(big.rows["train"])  # primary subsets nest
    assert set(small.rows["guide"]) <= set(big.rows["train"]) | set(big.rows["guide"])
    assert not np.array_equal(small.rows["train"], other.rows["train"])  # seeds draw anew
    assert np.array_equal(small.rows["test"], other.rows["test"])  # the test set does not
    whole = prepare(_cfg(split_csv, data_cache), n_train=None, guidance_fraction=0.0, seed=0)
    assert len(whole.train) == int(np.sum(_parts(N_ROWS) == "train"))


def test_column_split_orders_only_the_train_part() -> None:
    parts = np.array(["train", "test", "train", "val", "train", "test"])
    a, b = column_split(parts, seed=0), column_split(parts, seed=1)
    assert a.test.tolist() == [1, 5] and a.val.tolist() == [3]
    assert sorted(a.train_order.tolist()) == [0, 2, 4]
    assert np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val)


def test_limit_subsamples_every_part(split_csv: Path, data_cache: Path) -> None:
    data = prepare(_cfg(split_csv, data_cache, limit=150), n_train=40, seed=0)
    given = _parts(N_ROWS)
    assert len(data.test) + len(data.val) + 40 <= 150
    assert set(given[data.rows["test"]]) == {"test"} and set(given[data.rows["val"]]) == {"val"}


# ---- bad input: one line naming the column / file and what is allowed, before any work --------
def test_config_rules() -> None:
    with pytest.raises(ValidationError, match="split: column needs split_column"):
        DataConfig(name="csv", split="column")
    with pytest.raises(ValidationError, match="val_size and test_size: not used with split"):
        DataConfig(name="csv", split="column", split_column="s", val_size=0.1, test_size=5)
    with pytest.raises(ValidationError, match="split_column='s' needs split: column"):
        DataConfig(name="csv", split="scaffold", split_column="s")
    plain = DataConfig(name="csv", split="scaffold", test_size=50)
    assert (plain.val_size, plain.test_size) == (0.1, 50)  # defaults as before, shown in dumps
    given = DataConfig(name="csv", split="column", split_column="s")
    assert DataConfig.model_validate(given.model_dump()) == given  # a trial config round-trips


def _bad(path: Path, n_train: int = 5, **kw: object) -> str:
    with pytest.raises(ValueError) as info:
        prepare(_cfg(path, path.parent / "cache", name="csv", **kw), n_train=n_train)
    message = str(info.value)
    assert "\n" not in message
    assert not (path.parent / "cache").exists()  # nothing featurized
    return message


def _write(tmp_path: Path, parts: list[object]) -> Path:
    smiles = ["C" * k for k in range(1, len(parts) + 1)]
    path = tmp_path / "mols.csv"
    frame = {"SMILES": smiles, "y": np.arange(len(parts), dtype=float), "split": parts}
    pd.DataFrame(frame).to_csv(path, index=False)
    return path


def test_missing_split_column(tmp_path: Path) -> None:
    path = _write(tmp_path, ["train"] * 8 + ["val", "test"])
    message = _bad(path, split_column="fold")
    assert "split column 'fold' not found" in message and "mols.csv" in message
    assert "train/val/test" in message and "'split'" in message  # allowed values, columns


def test_values_other_than_train_val_test(tmp_path: Path) -> None:
    parts = ["train"] * 6 + ["training", "training", "valid", None, "test", "val"]
    message = _bad(_write(tmp_path, parts))
    assert "split column 'split' has 4 row(s) that are not train/val/test" in message
    assert "'training' x2" in message and "'valid' x1" in message and "<empty> x1" in message
    assert "mols.csv" in message


def test_few_offending_values_are_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"split": [f"fold{k}" for k in range(9)] + ["train"]})
    with pytest.raises(ValueError, match=r"has 9 row\(s\) .*'fold0' x1.* and 4 more$"):
        read_parts(frame, "split", "x")


def test_empty_part(tmp_path: Path) -> None:
    message = _bad(_write(tmp_path, ["train"] * 8 + ["test", "Test"]))
    assert "split column 'split' leaves the val part empty (train 8, val 0, test 2)" in message
    assert "mols.csv" in message


def test_empty_part_after_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, ["train"] * 40 + ["val", "test"])
    message = _bad(path, limit=5)
    assert "leaves the val and test parts empty" in message
    assert "(train 5, val 0, test 0; pool of 5 after limit 5)" in message


def test_n_train_larger_than_the_given_train_part(tmp_path: Path) -> None:
    path = _write(tmp_path, ["train"] * 6 + ["val", "val", "test", "test"])
    message = _bad(path, n_train=7)
    assert "n_train=7 is more than the 6 molecules available for training" in message
    assert "given train part of split column 'split' in" in message and "mols.csv" in message


def test_qm9_has_no_split_column() -> None:
    with pytest.raises(ValueError, match="qm9: has no split column .*use split: random"):
        prepare(DataConfig(name="qm9", split="column", split_column="fold"), n_train=10)
