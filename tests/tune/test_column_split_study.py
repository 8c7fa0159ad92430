"""A study with `split: column`: its trials test on exactly the file's given test molecules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from aimstudy.data import prepare
from aimstudy.train import run_trial
from aimstudy.tune import SpecError, load_spec

N = 120
TEST_OFFSET = 1000.0  # given test molecules' targets lie far from every other molecule's


def _given_parts() -> np.ndarray:
    rows = np.arange(N)
    return np.where(rows % 6 == 0, "test", np.where(rows % 6 == 1, "val", "train"))


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A csv of N alkanes/alcohols with a `fold` column, and a study that splits by it."""
    smiles = [("C" * (1 + k % 12)) + ("O" * (k // 12)) for k in range(N)]
    parts = _given_parts()
    y = np.linspace(0.0, 1.0, N) + np.where(parts == "test", TEST_OFFSET, 0.0)
    pd.DataFrame({"smiles": smiles, "y": y, "fold": parts}).to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "column-split",
        "dataset": {
            "name": "csv",
            "path": str(tmp_path / "d.csv"),
            "featurizer": "2d",
            "split": "column",
            "split_column": "fold",
            "cache_dir": str(tmp_path / "cache"),
        },
        "train": {
            "model": "gin",
            "model_options": {"hidden": 16, "layers": 1},
            "epochs": 1,
            "batch_size": 16,
            "patience": None,
        },
        "grid": {"method": ["ls"], "n_train": [30, 60], "seed": [0, 1]},
        "resources": {"cpu": 1, "gpu": 0},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_every_trial_tests_on_the_given_test_molecules(study: Path) -> None:
    spec = load_spec(study)
    frame = pd.read_csv(spec.dataset.path)
    given_test = frame["smiles"][_given_parts() == "test"].tolist()
    subsets = {}
    for cell in spec.cells():
        config = spec.trial_config(cell)
        data = prepare(config.dataset, config.n_train, config.guidance_fraction, config.seed)
        assert frame["smiles"].iloc[data.rows["test"]].tolist() == given_test
        assert set(_given_parts()[data.rows["train"]]) == {"train"}
        subsets[(config.seed, config.n_train)] = set(data.rows["train"]) | set(data.rows["guide"])
    for seed in (0, 1):
        assert subsets[(seed, 30)] <= subsets[(seed, 60)]  # nested within the given train part


def test_a_trial_is_scored_on_the_given_test_part(study: Path, tmp_path: Path) -> None:
    spec = load_spec(study)
    config = spec.trial_config(spec.cells()[0])
    result = run_trial(config, tmp_path / "trial")
    row = result.history[-1]
    assert row["test/mae/y"] > TEST_OFFSET / 2  # only the offset molecules are tested
    assert row["val/mae/y"] < TEST_OFFSET / 10 and row["train/mae/y"] < TEST_OFFSET / 10


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"split_column": None}, "dataset: split: column needs split_column"),
        ({"test_size": 0.2}, "dataset: test_size: not used with split: column"),
        ({"split": "random"}, "dataset: split_column='fold' needs split: column"),
    ],
)
def test_bad_split_options_are_one_spec_line(
    study: Path, dataset: dict[str, object], expected: str
) -> None:
    overrides = [f"dataset.{k}={'null' if v is None else v}" for k, v in dataset.items()]
    with pytest.raises(SpecError) as info:
        load_spec(study, overrides)
    assert expected in str(info.value) and "\n" not in str(info.value)
