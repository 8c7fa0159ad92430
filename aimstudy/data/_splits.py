"""Splits: fixed validation/test per (pool, seed), nested training subsets, guidance carve-out.

A split orders the pool once per seed: test, validation, then the training pool in a fixed
order. A training subset of size n is the first n of that order, so subsets nest across n and
never touch validation or test. A column split takes test and validation as given by the data
(the same for every seed) and orders only the given training part with the seed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from aimstudy.data._config import SPLIT_PARTS


@dataclass(frozen=True)
class Split:
    """Positions into the pool: test [n_test], val [n_val], train_order [rest] (nested prefix)."""

    test: np.ndarray
    val: np.ndarray
    train_order: np.ndarray


def split_sizes(split: Split) -> dict[str, int]:
    """Molecules per part of a split, in SPLIT_PARTS order (train: the whole training pool)."""
    sizes = {"train": len(split.train_order), "val": len(split.val), "test": len(split.test)}
    return {part: sizes[part] for part in SPLIT_PARTS}


def check_parts(split: Split, where: str) -> None:
    """ValueError naming the empty part(s) of a split with every part's size: an empty val part
    would keep epoch 1 as best, an empty test part would score nothing, both silently."""
    sizes = split_sizes(split)
    empty = [part for part, n in sizes.items() if n == 0]
    if empty:
        shown = ", ".join(f"{part} {n}" for part, n in sizes.items())
        noun = "part" if len(empty) == 1 else "parts"
        raise ValueError(
            f"{where} leaves the {' and '.join(empty)} {noun} empty ({shown}); each part needs "
            "a molecule: raise val_size / test_size (scaffold groups larger than half the test "
            "size always go to training)"
        )


def resolve_size(size: float, n: int, what: str) -> int:
    """Below 1 a fraction of n (rounded), from 1 on an absolute count."""
    count = int(round(size * n)) if size < 1 else int(size)
    if count >= n:
        raise ValueError(f"{what}={size} leaves no molecules of {n} for training")
    return count


def random_split(n: int, n_val: int, n_test: int, seed: int) -> Split:
    """Seeded permutation: first n_test -> test, next n_val -> val, the rest in order."""
    order = np.random.default_rng(seed).permutation(n)
    return Split(order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :])


def column_split(parts: np.ndarray, seed: int) -> Split:
    """Test and validation as given (pool order); the given train part in seeded order.

    `parts` holds "train" / "val" / "test" per pool position. Only the training order depends
    on the seed, so n_train subsets nest within the given train part and differ across seeds.
    """
    test = np.flatnonzero(parts == "test")
    val = np.flatnonzero(parts == "val")
    train = np.flatnonzero(parts == "train")
    return Split(test, val, train[np.random.default_rng(seed).permutation(len(train))])


def part_sizes(parts: np.ndarray) -> dict[str, int]:
    """Molecules per given part, in SPLIT_PARTS order (0 for a part that is absent)."""
    return {part: int(np.sum(parts == part)) for part in SPLIT_PARTS}


def murcko_scaffold(smiles: str) -> str:
    """Bemis-Murcko scaffold SMILES ('' for acyclic); the SMILES itself if RDKit cannot parse."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return f"invalid:{smiles}"
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(scaffolds: list[str], n_val: int, n_test: int, seed: int) -> Split:
    """Whole scaffold groups go to test, then val, the rest to training (chemprop's balanced form).

    Groups larger than half the test size always go to training (they would overflow a small
    split); the other groups fill test, then validation, in seeded order.
    The training pool is then shuffled with the seed, so its subsets nest.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, scaffold in enumerate(scaffolds):
        groups[scaffold].append(i)
    rng = np.random.default_rng(seed)
    half = max(n_test, 1) / 2
    train = [i for g in groups.values() if len(g) > half for i in g]
    small = [g for g in groups.values() if len(g) <= half]
    test: list[int] = []
    val: list[int] = []
    for k in rng.permutation(len(small)):
        group = small[k]
        if len(test) + len(group) <= n_test:
            test += group
        elif len(val) + len(group) <= n_val:
            val += group
        else:
            train += group
    train_order = np.asarray(train, dtype=np.int64)[rng.permutation(len(train))]
    return Split(np.asarray(test, dtype=np.int64), np.asarray(val, dtype=np.int64), train_order)


def training_subset(
    split: Split, n_train: int | None, guidance_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Primary and guidance positions from the first n_train of the training order.

    The guidance split is the last round(h * n_train) of the subset, so the primary subsets nest
    too (10k-primary inside 50k-primary for the same seed).
    """
    available = len(split.train_order)
    n = available if n_train is None else n_train
    if n < 1 or n > available:
        raise ValueError(
            f"n_train={n_train} is not in 1..{available} (molecules available "
            "for training after validation and test)"
        )
    if not 0.0 <= guidance_fraction < 1.0:
        raise ValueError(f"guidance_fraction={guidance_fraction} must be in [0, 1)")
    subset = split.train_order[:n]
    n_guide = int(round(guidance_fraction * n))
    if guidance_fraction > 0 and n > 1:
        n_guide = min(max(n_guide, 1), n - 1)
    return subset[: n - n_guide], subset[n - n_guide :]
