"""tpd-adme: download-and-cache path, exercised on a small zip in the journal's format."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimstudy.data import DataConfig, load_dataset, prepare
from aimstudy.data._tpd import ENV_URL, ZIP_NAME

SMILES = [
    "CCO", "CCN", "CCC", "c1ccccc1O", "c1ccccc1N", "CC(=O)O", "CC(=O)N", "OCCO", "NCCN",
    "C1CCCCC1", "c1ccncc1", "CCOC", "CCCl", "CCBr", "CC(C)C", "C1CC1C", "c1ccoc1", "c1ccsc1",
    "CC#N", "C=CC", "xx_invalid", "CCCCO", "CCCCN", "OC(=O)CC", "NC(=O)CC",
]  # fmt: skip


@pytest.fixture
def tpd_zip(tmp_path: Path) -> Path:
    """A zip holding one CSV shaped like Supplementary Data 1 (index, smiles, source, pred(...))."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"smiles": SMILES, "Public Source": ["ZINC"] * len(SMILES)})
    for name in ("LogD", "CL_hlm", "PPB_h"):
        frame[f"pred({name})"] = rng.normal(size=len(SMILES))
    source = tmp_path / "src"
    source.mkdir()
    csv = source / "protacdb2.0_zinc_chembl_dataset.csv"
    frame.to_csv(csv)  # with the unnamed index column, as pandas writes it
    path = source / ZIP_NAME
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(csv, csv.name)
    return path


def test_download_cache_and_prepare(
    tpd_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV_URL, tpd_zip.as_uri())
    cfg = DataConfig(name="tpd-adme", val_size=3, test_size=3, cache_dir=cache)
    table = load_dataset(cfg)
    assert (cache / "tpd-adme" / ZIP_NAME).exists()  # downloaded into the cache
    assert [t.name for t in table.tasks] == ["LogD", "CL_hlm", "PPB_h"]
    assert table.tasks[0].column == "pred(LogD)" and len(table) == 25
    tpd_zip.unlink()  # later loads must not need the source any more
    data = prepare(cfg, n_train=10, guidance_fraction=0.2, seed=0)
    assert data.featurizer == "2d" and data.n_skipped == 1 and data.n_molecules == 24
    assert (len(data.train), len(data.guide)) == (8, 2)
    only = load_dataset(DataConfig(name="tpd-adme", tasks=["PPB_h"], cache_dir=cache))
    assert [t.name for t in only.tasks] == ["PPB_h"]


def test_local_zip_path(tpd_zip: Path, tmp_path: Path) -> None:
    table = load_dataset(DataConfig(name="tpd-adme", path=tpd_zip, cache_dir=tmp_path))
    assert len(table) == 25 and len(table.tasks) == 3


def test_split_column_of_a_local_file(tmp_path: Path) -> None:
    path = tmp_path / "tpd.csv"
    folds = ["train"] * 19 + ["val"] * 3 + ["test"] * 3
    pd.DataFrame({"smiles": SMILES, "pred(LogD)": np.arange(25.0), "fold": folds}).to_csv(path)
    cfg = DataConfig(name="tpd-adme", path=path, split="column", split_column="fold")
    assert load_dataset(cfg).parts.tolist() == folds
    data = prepare(cfg.model_copy(update={"cache_dir": tmp_path}), n_train=10, seed=0)
    assert data.rows["test"].tolist() == [22, 23, 24]


def test_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, (tmp_path / "missing.zip").as_uri())
    with pytest.raises(FileNotFoundError, match="tpd-adme: download of .* failed"):
        load_dataset(DataConfig(name="tpd-adme", cache_dir=tmp_path / "c"))
    assert not list((tmp_path / "c" / "tpd-adme").glob("*"))  # no partial file left behind


def test_3d_not_available() -> None:
    with pytest.raises(ValueError, match="featurizer='3d' needs 3-D geometry"):
        load_dataset(DataConfig(name="tpd-adme", featurizer="3d"))
