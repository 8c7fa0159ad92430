"""The benchmark MPNN learns: it overfits a few dozen real QM9 molecules."""

from __future__ import annotations

from pathlib import Path

import torch
from torch_geometric.data import Batch

from aimstudy.data import DataConfig, prepare
from aimstudy.models import build_model


def _fit(featurizer: str, n: int, steps: int, cache: Path) -> tuple[float, float, float]:
    """Full-batch Adam on `n` training molecules; (mean-predictor MAE, first MAE, final MAE),
    all in standardized units."""
    cfg = DataConfig(
        name="qm9", featurizer=featurizer, limit=56, val_size=12, test_size=12, cache_dir=cache
    )
    data = prepare(cfg, n_train=32, guidance_fraction=0.0, seed=0)
    batch = Batch.from_data_list([data.train[i] for i in range(n)])
    target = data.scaler.transform(batch.y)  # [n, 11] standardized
    model = build_model("mpnn", data.node_dim, data.edge_dim, n_tasks=len(data.tasks))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    with torch.no_grad():
        first = float((model(batch) - target).abs().mean())
    for _ in range(steps):
        opt.zero_grad()
        (model(batch) - target).square().mean().backward()
        opt.step()
    with torch.no_grad():
        final = float((model(batch) - target).abs().mean())
    return float((target - target.mean(0)).abs().mean()), first, final


def test_mpnn_overfits_32_qm9_molecules(tmp_path: Path) -> None:
    """2-D graphs (heavy atoms, bonds) keep this fast; the architecture is the benchmark's."""
    mean_predictor, _, final = _fit("2d", 32, 120, tmp_path)
    assert final < 0.25 * mean_predictor, (final, mean_predictor)


def test_mpnn_learns_on_3d_complete_graphs(tmp_path: Path) -> None:
    """The benchmark input (hydrogens, complete graph, distances): a few steps cut the error."""
    _, first, final = _fit("3d", 8, 12, tmp_path)
    assert final < 0.9 * first, (first, final)
