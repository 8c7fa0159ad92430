"""Splits: fixed val/test, nested training subsets, guidance carve-out, scaffold groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimstudy.data._splits import (
    murcko_scaffold,
    random_split,
    resolve_size,
    scaffold_split,
    training_subset,
)


def test_resolve_size_fraction_or_count() -> None:
    assert resolve_size(0.1, 1000, "val_size") == 100
    assert resolve_size(250, 1000, "val_size") == 250
    with pytest.raises(ValueError, match="test_size"):
        resolve_size(1000, 1000, "test_size")


def test_random_split_partitions_and_is_seeded() -> None:
    a = random_split(1000, 100, 150, seed=3)
    b = random_split(1000, 100, 150, seed=3)
    c = random_split(1000, 100, 150, seed=4)
    assert (len(a.test), len(a.val), len(a.train_order)) == (150, 100, 750)
    joined = np.concatenate([a.test, a.val, a.train_order])
    assert sorted(joined.tolist()) == list(range(1000))
    assert np.array_equal(a.test, b.test) and not np.array_equal(a.test, c.test)


def test_subsets_nest_and_guidance_is_carved_from_n_train() -> None:
    split = random_split(2000, 200, 200, seed=0)
    small_p, small_g = training_subset(split, 100, 0.1)
    big_p, big_g = training_subset(split, 1000, 0.1)
    assert (len(small_p), len(small_g), len(big_p), len(big_g)) == (90, 10, 900, 100)
    small, big = set(small_p) | set(small_g), set(big_p) | set(big_g)
    assert small <= big  # n_train subsets nest
    assert set(small_p) <= set(big_p)  # primary subsets nest too
    assert not (set(big_p) & set(big_g))
    assert not (big & (set(split.val) | set(split.test)))


def test_no_guidance() -> None:
    primary, guide = training_subset(random_split(100, 10, 10, 0), 50, 0.0)
    assert len(primary) == 50 and len(guide) == 0


def test_n_train_too_large() -> None:
    with pytest.raises(ValueError, match="n_train=81 is not in 1..80"):
        training_subset(random_split(100, 10, 10, 0), 81, 0.1)


def test_scaffold_split_keeps_scaffolds_together() -> None:
    rings = [
        "c1ccccc1",
        "C1CCCCC1",
        "c1ccncc1",
        "C1CC1",
        "C1CCC1",
        "C1CCCC1",
        "c1ccoc1",
        "c1ccsc1",
        "C1CCNCC1",
        "C1CCOCC1",
        "c1ccc2ccccc2c1",
        "C1CCC2CCCCC2C1",
    ]
    smiles = [ring + sub for ring in rings for sub in ("C", "O")] + ["CCO", "CCN", "CCC"]
    scaffolds = [murcko_scaffold(s) for s in smiles]
    assert scaffolds[0] == "c1ccccc1" and scaffolds[-1] == ""
    split = scaffold_split(scaffolds, n_val=4, n_test=6, seed=1)
    parts = [split.test, split.val, split.train_order]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(smiles)))
    assert len(split.test) == 6 and len(split.val) == 4  # filled with whole pairs
    groups = [{scaffolds[i] for i in p} for p in parts]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2])
    assert not (groups[1] & groups[2])
    assert "" in groups[2]  # the acyclic group (3 > 6 / 2) stays in training
    other = scaffold_split(scaffolds, n_val=4, n_test=6, seed=2)
    assert set(other.test) != set(split.test)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 400),
    seed=st.integers(0, 10_000),
    h=st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    data=st.data(),
)
def test_nesting_property(n: int, seed: int, h: float, data: st.DataObject) -> None:
    """For any pool, seed and pair of budgets, the smaller subset lies inside the larger one."""
    split = random_split(n, n // 10, n // 10, seed)
    available = len(split.train_order)
    small = data.draw(st.integers(1, available))
    big = data.draw(st.integers(small, available))
    sp, sg = training_subset(split, small, h)
    bp, bg = training_subset(split, big, h)
    assert len(sp) + len(sg) == small and len(bp) + len(bg) == big
    assert set(sp) | set(sg) <= set(bp) | set(bg)
    assert set(sp) <= set(bp)
