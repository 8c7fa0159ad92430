"""prepare(): pools, caching, nested subsets, sparse labels, skipped SMILES, bad input."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import aimstudy
from aimstudy.data import DataConfig, load_dataset, names, prepare
from aimstudy.data._csv import BIOGEN_FILE
from aimstudy.data._prepare import pool_rows


@pytest.fixture
def cache(data_cache: Path) -> Path:
    return data_cache


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """12 molecules, 2 sparse targets, 2 invalid SMILES and one empty SMILES cell."""
    frame = pd.DataFrame(
        {
            "smiles": ["CCO", "c1ccccc1", "CC(=O)O", "not_a_smiles", "CCN", "C1CC",
                       "CCCl", "OCCO", None, "CC(C)C", "c1ccncc1", "CCOC"],
            "logS (log mol/L)": [0.1, np.nan, 0.3, 0.2, np.nan, 0.5, 0.4, np.nan, 1.0, 0.7,
                                 0.8, 0.9],
            "pKa": [np.nan, 4.0, 4.8, 1.0, 10.6, np.nan, 3.0, 14.0, 2.0, np.nan, 5.2, 6.0],
            "note": ["a"] * 12,
        }
    )  # fmt: skip
    path = tmp_path / "mols.csv"
    frame.to_csv(path, index=False)
    return path


def qm9_cfg(cache: Path, **kw: object) -> DataConfig:
    return DataConfig(name="qm9", featurizer="2d", limit=400, cache_dir=cache, **kw)


def test_names() -> None:
    assert {"qm9", "csv", "biogen", "tpd-adme"} <= set(names())


def test_qm9_2d_pool_split_and_scaler(cache: Path) -> None:
    data = prepare(qm9_cfg(cache), n_train=200, guidance_fraction=0.1, seed=0)
    assert (len(data.train), len(data.guide), len(data.val), len(data.test)) == (180, 20, 40, 40)
    assert data.featurizer == "2d" and data.n_skipped == 0 and data.n_molecules == 400
    g = data.train[0]
    assert g.y.shape == (1, 11) and g.y_mask.dtype == torch.bool and bool(g.y_mask.all())
    ys = torch.cat([data.train[i].y for i in range(len(data.train))])  # [180, 11]
    assert torch.allclose(data.scaler.mean, ys.mean(0), rtol=1e-4, atol=1e-4)
    assert torch.allclose(
        data.scaler.transform(ys).std(0, unbiased=False), torch.ones(11), atol=1e-3
    )
    assert set(data.rows["train"].tolist()) <= set(pool_rows(130_831, 400).tolist())
    assert int(g.mol_id) == int(data.rows["train"][0])


def test_val_test_stable_across_n_train_and_subsets_nest(cache: Path) -> None:
    small = prepare(qm9_cfg(cache), n_train=50, guidance_fraction=0.1, seed=1)
    big = prepare(qm9_cfg(cache), n_train=300, guidance_fraction=0.1, seed=1)
    other = prepare(qm9_cfg(cache), n_train=50, guidance_fraction=0.1, seed=2)
    for part in ("val", "test"):
        assert np.array_equal(small.rows[part], big.rows[part])
    assert not np.array_equal(small.rows["test"], other.rows["test"])
    small_all = set(small.rows["train"]) | set(small.rows["guide"])
    assert small_all <= set(big.rows["train"]) | set(big.rows["guide"])
    assert set(small.rows["train"]) <= set(big.rows["train"])


def test_absolute_val_test_sizes(cache: Path) -> None:
    data = prepare(qm9_cfg(cache, val_size=30, test_size=25), n_train=100, seed=0)
    assert (len(data.val), len(data.test)) == (30, 25)


def test_limits_nest() -> None:
    assert set(pool_rows(1000, 100)) <= set(pool_rows(1000, 300))
    assert np.array_equal(pool_rows(50, 100), np.arange(50))


def test_qm9_3d_graphs(cache: Path) -> None:
    data = prepare(DataConfig(name="qm9", limit=60, cache_dir=cache), n_train=20, seed=0)
    assert data.featurizer == "3d" and (data.node_dim, data.edge_dim) == (11, 5)
    g = data.train[0]
    n = g.num_nodes
    assert g.pos.shape == (n, 3) and g.edge_index.shape[1] == n * (n - 1)
    assert bool((g.z == 1).any())  # hydrogens are nodes


def test_cache_reused_identical_and_faster(tmp_path: Path) -> None:
    cfg = DataConfig(name="qm9", featurizer="3d", limit=300, cache_dir=tmp_path)
    t0 = time.perf_counter()
    first = prepare(cfg, n_train=100, seed=0)
    t1 = time.perf_counter()
    second = prepare(cfg, n_train=100, seed=0)
    t2 = time.perf_counter()
    assert not first.from_cache and second.from_cache
    assert first.cache_path == second.cache_path and first.cache_path.exists()
    assert t2 - t1 < t1 - t0
    for part in ("train", "val", "test"):
        a, b = getattr(first, part), getattr(second, part)
        for i in (0, len(a) - 1):
            for key in ("x", "edge_index", "edge_attr", "pos", "y", "y_mask"):
                assert torch.equal(a[i][key], b[i][key])


def test_biogen_sparse_labels(biogen_csv: Path, cache: Path) -> None:
    cfg = DataConfig(name="biogen", path=biogen_csv, cache_dir=cache)
    data = prepare(cfg, n_train=1000, guidance_fraction=0.1, seed=0)
    assert [t.name for t in data.tasks] == [
        "HLM_CLint", "MDR1_ER", "solubility", "hPPB", "rPPB", "RLM_CLint"]  # fmt: skip
    assert data.tasks[0].unit == "log10(mL/min/kg)"
    assert data.n_skipped == 0 and data.n_molecules == 3521
    mask = torch.cat([data.train[i].y_mask for i in range(len(data.train))])  # [900, 6]
    y = torch.cat([data.train[i].y for i in range(len(data.train))])
    assert 0.3 < mask.float().mean() < 0.8  # sparse: about half labelled
    assert torch.all(y[~mask] == 0)  # NaN replaced by 0 where unlabelled
    # scaler uses labelled entries only
    mean0 = y[mask[:, 0], 0].mean()
    assert data.scaler.mean[0] == pytest.approx(float(mean0), rel=1e-5)
    plain = load_dataset(DataConfig(name="csv", path=biogen_csv))  # every numeric column
    assert [t.column for t in plain.tasks] == [t.column for t in data.tasks]  # not "Vendor ID"
    same = prepare(
        DataConfig(name="csv", tasks="biogen", path=biogen_csv, cache_dir=cache),
        n_train=1000,
        seed=0,
    )
    assert np.array_equal(same.rows["test"], data.rows["test"])


def test_csv_skipped_smiles_counted(
    small_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = DataConfig(name="csv", path=small_csv, val_size=2, test_size=2, cache_dir=tmp_path)
    data = prepare(cfg, n_train=5, guidance_fraction=0.0, seed=0)
    assert data.n_skipped == 3 and data.n_molecules == 9
    assert "3 of 12 molecules could not be featurized" in caplog.text
    assert [t.name for t in data.tasks] == ["logS (log mol/L)", "pKa"]
    assert data.tasks[0].unit == "log mol/L"
    assert len(data.train) + len(data.val) + len(data.test) == 9
    kept = set(np.concatenate([data.rows[p] for p in ("train", "val", "test")]).tolist())
    assert not kept & {3, 5, 8}  # the invalid / empty SMILES rows


def test_csv_scaffold_split(biogen_csv: Path, cache: Path) -> None:
    cfg = DataConfig(name="biogen", path=biogen_csv, split="scaffold", cache_dir=cache)
    data = prepare(cfg, n_train=500, seed=0)
    assert len(data.test) == pytest.approx(352, abs=3) and len(data.train) == 450


# ---- bad input: one-line errors before featurization --------------------------------------------
def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'qm10'"):
        prepare(DataConfig(name="qm10"), n_train=10)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="file not found: .*nope.csv"):
        prepare(DataConfig(name="csv", path=tmp_path / "nope.csv"), n_train=10)


def test_csv_needs_path() -> None:
    with pytest.raises(ValueError, match="csv: dataset needs a file path"):
        prepare(DataConfig(name="csv"), n_train=10)


def test_biogen_reads_the_shipped_file_unless_a_path_is_given(tmp_path: Path) -> None:
    shipped = load_dataset(DataConfig(name="biogen"))
    assert shipped.source == str(BIOGEN_FILE) and len(shipped) == 3521
    assert (BIOGEN_FILE.parent / "LICENSE").read_text().startswith("MIT License")
    package = Path(aimstudy.__file__).parent
    assert BIOGEN_FILE.is_relative_to(package)  # shipped inside the package itself
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["aimstudy"]
    shipped_files = {f for g in globs for f in package.glob(g)}  # what the wheel takes
    assert {BIOGEN_FILE, BIOGEN_FILE.parent / "LICENSE"} <= shipped_files
    copy = tmp_path / "head.csv"
    pd.read_csv(BIOGEN_FILE).head(50).to_csv(copy, index=False)
    assert len(load_dataset(DataConfig(name="biogen", path=copy))) == 50


def test_missing_column(small_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"column\(s\) \['logD'\] not found"):
        prepare(DataConfig(name="csv", path=small_csv, tasks=["pKa", "logD"]), n_train=5)
    with pytest.raises(ValueError, match="SMILES column 'smi' not found"):
        prepare(DataConfig(name="csv", path=small_csv, smiles_column="smi"), n_train=5)


def test_non_numeric_column(small_csv: Path) -> None:
    with pytest.raises(ValueError, match=r"\['note'\] are not numeric"):
        prepare(DataConfig(name="csv", path=small_csv, tasks=["pKa", "note"]), n_train=5)


def test_n_train_too_large(cache: Path) -> None:
    with pytest.raises(ValueError, match="n_train=500 is more than the 320 molecules"):
        prepare(qm9_cfg(cache), n_train=500)


def test_task_without_labels_in_training_subset(tmp_path: Path) -> None:
    smiles = ["C" * k for k in range(1, 21)]
    sparse = [np.nan] * 20
    sparse[0] = 1.0  # one label in the whole pool
    path = tmp_path / "sparse.csv"
    pd.DataFrame({"SMILES": smiles, "a": np.arange(20.0), "b": sparse}).to_csv(path, index=False)
    cfg = DataConfig(name="csv", path=path, val_size=2, test_size=2, cache_dir=tmp_path)
    with pytest.raises(
        ValueError,
        match=r"task\(s\) \['b'\] have no labelled molecule in the "
        r"training subset",
    ):
        for seed in range(10):  # some seed puts the single label outside the 3-molecule subset
            prepare(cfg, n_train=3, guidance_fraction=0.0, seed=seed)
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"SMILES": smiles, "a": np.arange(20.0), "b": [np.nan] * 20}).to_csv(empty)
    with pytest.raises(ValueError, match=r"\['b'\] have no labelled molecule in the csv pool"):
        prepare(DataConfig(name="csv", path=empty, tasks=["a", "b"]), n_train=3)


def test_bad_guidance_fraction(cache: Path) -> None:
    with pytest.raises(ValueError, match=r"guidance_fraction=1.0 must be in \[0, 1\)"):
        prepare(qm9_cfg(cache), n_train=100, guidance_fraction=1.0)


def test_scaffold_split_cached_and_stable(biogen_csv: Path, cache: Path) -> None:
    cfg = DataConfig(name="biogen", path=biogen_csv, split="scaffold", cache_dir=cache)
    first = prepare(cfg, n_train=200, seed=3)
    assert first.cache_path.with_suffix(".scaffolds.json").exists()
    again = prepare(cfg, n_train=400, seed=3)
    assert np.array_equal(first.rows["test"], again.rows["test"])
    assert set(first.rows["train"]) <= set(again.rows["train"]) | set(again.rows["guide"])


def test_qm9_takes_no_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="qm9: reads the qm9pack package and takes no path"):
        prepare(DataConfig(name="qm9", path=tmp_path), n_train=10)
