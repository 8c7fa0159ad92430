"""Chunked (and multi-process) featurization gives exactly the graphs of one collate."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import InMemoryDataset

from aimstudy.data import _build
from aimstudy.data._featurize import featurize_2d
from aimstudy.data._table import MoleculeTable

SMILES = ["CCO", "c1ccccc1", "bad", "CC(=O)O", "C", "CCN", "C1CC1", "OCCO", "xx", "CC#N",
          "c1ccncc1", "CCCl", "CC(C)C", "O", "CCOC", "NCCN", "C=CC"]  # fmt: skip


def table() -> MoleculeTable:
    return MoleculeTable("t", SMILES, torch.zeros(len(SMILES), 1).numpy(), [], "test", "k")


def reference() -> tuple[dict, dict]:
    graphs = [g for g in map(featurize_2d, SMILES) if g is not None]
    data, slices = InMemoryDataset.collate(graphs)
    return data.to_dict(), dict(slices)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_chunks_match_single_collate(monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    monkeypatch.setattr(_build, "CHUNK", 5)
    monkeypatch.setenv(_build.ENV_WORKERS, workers)
    data, slices, kept, skipped = _build.build_pool(table(), "2d")
    assert skipped == 2 and kept == [i for i, s in enumerate(SMILES) if s not in ("bad", "xx")]
    ref_data, ref_slices = reference()
    assert set(data) == set(ref_data)
    for key in ref_data:
        assert torch.equal(data[key], ref_data[key]), key
        assert torch.equal(slices[key], ref_slices[key]), key


def test_bad_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_build.ENV_WORKERS, "two")
    with pytest.raises(ValueError, match="AIMSTUDY_FEATURIZE_WORKERS='two'"):
        _build.build_pool(table(), "2d")
