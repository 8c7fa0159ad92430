"""RDKit molecules -> PyG graphs: 2-D from SMILES, 3-D (QM9) from the shipped XYZ geometry.

A featurizer returns None for a molecule it cannot build; callers count those as skipped.
Bump a VERSION when its output changes: it is part of the cache key.
"""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds
from torch_geometric.data import Data

RDLogger.DisableLog("rdApp.*")  # invalid SMILES are counted, not printed one by one

VERSION_2D = "2d-v1"
VERSION_3D = "3d-v1"

# ---- 2-D: one-hot atom and bond features from SMILES (heavy atoms) ----------------------------
_ELEMENTS = [1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53]  # H B C N O F Si P S Cl Br I (+ other)
_DEGREES = [0, 1, 2, 3, 4, 5]
_CHARGES = [-2, -1, 0, 1, 2]
_NUM_HS = [0, 1, 2, 3, 4]
_HYBRID = [
    Chem.rdchem.HybridizationType.SP,
    Chem.rdchem.HybridizationType.SP2,
    Chem.rdchem.HybridizationType.SP3,
    Chem.rdchem.HybridizationType.SP3D,
    Chem.rdchem.HybridizationType.SP3D2,
]
_BONDS = [
    Chem.rdchem.BondType.SINGLE,
    Chem.rdchem.BondType.DOUBLE,
    Chem.rdchem.BondType.TRIPLE,
    Chem.rdchem.BondType.AROMATIC,
]
NODE_DIM_2D = sum(len(v) + 1 for v in (_ELEMENTS, _DEGREES, _CHARGES, _NUM_HS, _HYBRID)) + 3
EDGE_DIM_2D = len(_BONDS) + 2
NODE_DIM_3D = 11  # as PyG's QM9: type one-hot H C N O F, Z, aromatic, sp, sp2, sp3, num_hs
EDGE_DIM_3D = 5  # bond type one-hot (single, double, triple, aromatic) + distance (Angstrom)


def _one_hot(value: object, choices: list) -> list[float]:
    """One-hot over `choices` plus a final 'other' slot."""
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def _atom_features_2d(atom: Chem.Atom) -> list[float]:
    return (
        _one_hot(atom.GetAtomicNum(), _ELEMENTS)
        + _one_hot(atom.GetTotalDegree(), _DEGREES)
        + _one_hot(atom.GetFormalCharge(), _CHARGES)
        + _one_hot(atom.GetTotalNumHs(), _NUM_HS)
        + _one_hot(atom.GetHybridization(), _HYBRID)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing()), atom.GetMass() * 0.01]
    )


def _bond_features_2d(bond: Chem.Bond) -> list[float]:
    kind = [float(bond.GetBondType() == b) for b in _BONDS]
    return kind + [float(bond.GetIsConjugated()), float(bond.IsInRing())]


def featurize_2d(smiles: str) -> Data | None:
    """Heavy-atom graph of a SMILES: x [n, 41], edge_index [2, 2b], edge_attr [2b, 6], z [n]."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    x = torch.tensor([_atom_features_2d(a) for a in mol.GetAtoms()], dtype=torch.float32)
    rows, cols, feats = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = _bond_features_2d(bond)
        rows += [i, j]
        cols += [j, i]
        feats += [f, f]
    edge_index = torch.tensor([rows, cols], dtype=torch.long).view(2, -1)  # [2, e]
    edge_attr = torch.tensor(feats, dtype=torch.float32).view(-1, EDGE_DIM_2D)  # [e, 6]
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long)  # [n]
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, z=z)


# ---- 3-D: all atoms with hydrogens, complete graph with distances (QM9 benchmark MPNN) ---------
_TYPES_3D = {1: 0, 6: 1, 7: 2, 8: 3, 9: 4}
_HYB_3D = _HYBRID[:3]


def parse_geometry(elements: str, xyz: str) -> tuple[list[str], np.ndarray]:
    """qm9pack's text columns "['C','H']" and "[[x,y,z],...]" -> symbols, coordinates [n, 3]."""
    symbols = [s.strip().strip("'\"") for s in elements.strip("[]").split(",")]
    flat = xyz.replace("[", " ").replace("]", " ").replace(",", " ").split()
    coords = np.asarray(flat, dtype=np.float64).reshape(-1, 3)  # [n, 3]
    if len(symbols) != len(coords):
        raise ValueError("geometry: element and coordinate counts differ")
    return symbols, coords


def _xyz_mol(symbols: list[str], coords: np.ndarray) -> Chem.Mol | None:
    block = f"{len(symbols)}\n\n" + "\n".join(
        f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in zip(symbols, coords, strict=True)
    )
    return Chem.MolFromXYZBlock(block)


def _plain(mol: Chem.Mol) -> Chem.Mol:
    """Copy with every bond single and no aromaticity or charge: matches bare connectivity."""
    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
    for bond in rw.GetBonds():
        bond.SetBondType(Chem.rdchem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    return rw.GetMol()


def bonded_molecule(
    smiles: str, symbols: list[str], coords: np.ndarray
) -> tuple[Chem.Mol, np.ndarray] | None:
    """A molecule with explicit hydrogens and its coordinates [n, 3], atoms aligned.

    Bonds come from the SMILES (with hydrogens added), matched onto the XYZ connectivity; when
    that fails, RDKit's DetermineBonds on the XYZ alone backs it up (stack-notes: the two never
    failed on the same QM9 molecule).
    """
    geo = _xyz_mol(symbols, coords)
    if geo is None:
        return None
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is not None:
        mol = Chem.AddHs(mol)
        if mol.GetNumAtoms() == len(symbols):
            connected = Chem.Mol(geo)
            try:
                rdDetermineBonds.DetermineConnectivity(connected)
                match = connected.GetSubstructMatch(_plain(mol))
            except (ValueError, RuntimeError):
                match = ()
            if len(match) == mol.GetNumAtoms():
                return mol, coords[list(match)]
    try:
        fallback = Chem.Mol(geo)
        rdDetermineBonds.DetermineBonds(fallback, charge=0)
        Chem.SanitizeMol(fallback)
    except (ValueError, RuntimeError):
        return None
    return fallback, coords


def featurize_3d(smiles: str, elements: str, xyz: str) -> Data | None:
    """Complete graph with hydrogens: x [n, 11], edge_attr [n(n-1), 5], pos [n, 3], z [n]."""
    try:
        symbols, coords = parse_geometry(elements, xyz)
    except ValueError:
        return None
    built = bonded_molecule(smiles, symbols, coords)
    if built is None:
        return None
    mol, pos_np = built
    n = mol.GetNumAtoms()
    if any(a.GetAtomicNum() not in _TYPES_3D for a in mol.GetAtoms()):
        return None
    z = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long)  # [n]
    is_h = z == 1
    bond_type = torch.zeros(n, n, 4)  # [n, n, 4] one-hot per bonded pair
    for bond in mol.GetBonds():
        i, j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), _BONDS.index(bond.GetBondType())
        bond_type[i, j, k] = bond_type[j, i, k] = 1.0
    bonded = bond_type.sum(-1) > 0  # [n, n]
    num_hs = (bonded & is_h.view(1, n)).sum(1).float()  # [n] hydrogen neighbours
    type_one_hot = torch.nn.functional.one_hot(
        torch.tensor([_TYPES_3D[int(v)] for v in z]), num_classes=5
    ).float()  # [n, 5]
    extra = torch.tensor(
        [
            [a.GetAtomicNum(), float(a.GetIsAromatic())]
            + [float(a.GetHybridization() == h) for h in _HYB_3D]
            for a in mol.GetAtoms()
        ],
        dtype=torch.float32,
    )  # [n, 5]
    x = torch.cat([type_one_hot, extra, num_hs.view(-1, 1)], dim=1)  # [n, 11]
    pos = torch.tensor(pos_np, dtype=torch.float32)  # [n, 3]
    off_diag = ~torch.eye(n, dtype=torch.bool)
    edge_index = off_diag.nonzero().t().contiguous()  # [2, n(n-1)], sorted by source
    row, col = edge_index
    dist = (pos[row] - pos[col]).norm(dim=-1, keepdim=True)  # [e, 1]
    edge_attr = torch.cat([bond_type[row, col], dist], dim=1)  # [e, 5]
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, pos=pos, z=z)
