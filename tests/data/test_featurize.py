"""Featurizers: 2-D one-hot graphs from SMILES, 3-D complete graphs from QM9 geometry."""

from __future__ import annotations

import torch

from aimstudy.data._featurize import (
    EDGE_DIM_2D,
    NODE_DIM_2D,
    featurize_2d,
    featurize_3d,
)

METHANE_ELEMENTS = "['C','H','H','H','H']"
METHANE_XYZ = (
    "[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],"
    "[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],"
    "[-0.5238136345,1.4379326443,0.9063972942]]"
)


def test_2d_benzene() -> None:
    g = featurize_2d("c1ccccc1")
    assert g.x.shape == (6, NODE_DIM_2D) and g.edge_attr.shape == (12, EDGE_DIM_2D)
    assert torch.all(g.edge_attr[:, 3] == 1)  # aromatic bond slot
    assert torch.all(g.x.sum(1) > 0)
    assert g.edge_index.shape == (2, 12) and torch.equal(g.z, torch.full((6,), 6))


def test_2d_single_atom_has_no_edges() -> None:
    g = featurize_2d("C")
    assert g.x.shape == (1, NODE_DIM_2D) and g.edge_index.shape == (2, 0)


def test_invalid_smiles_gives_none() -> None:
    assert featurize_2d("C1CC") is None
    assert featurize_2d("not a smiles") is None
    assert featurize_2d("") is None


def test_3d_methane_complete_graph() -> None:
    g = featurize_3d("C", METHANE_ELEMENTS, METHANE_XYZ)
    assert g.x.shape == (5, 11) and g.pos.shape == (5, 3)
    assert g.edge_index.shape == (2, 20) and g.edge_attr.shape == (20, 5)
    carbon = g.x[g.z == 6][0]
    # type one-hot (C), Z=6, not aromatic, sp3, 4 hydrogens: as PyG's QM9 node features
    assert carbon.tolist() == [0, 1, 0, 0, 0, 6, 0, 0, 0, 1, 4]
    row, col = g.edge_index
    ch = (g.z[row] == 6) | (g.z[col] == 6)
    assert torch.all(g.edge_attr[ch, 0] == 1)  # C-H single bonds
    assert torch.all(g.edge_attr[~ch, :4] == 0)  # H...H pairs are not bonded
    assert torch.allclose(g.edge_attr[ch, 4], torch.full((8,), 1.092), atol=1e-3)
    assert not torch.any(row == col)


def test_3d_bad_geometry_gives_none() -> None:
    assert featurize_3d("C", "['C','H']", METHANE_XYZ) is None
