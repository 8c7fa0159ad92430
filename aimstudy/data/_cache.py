"""On-disk cache of featurized pools in the collated InMemoryDataset layout.

One file per (dataset content, pool, featurizer version): the graphs collated into one set of
tensors with slices, which loads in well under a second where a pickled list of `Data` objects
takes seconds (stack-notes). Writes are atomic and guarded by a file lock, so parallel trials
featurize a pool once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch_geometric.data import Data, InMemoryDataset

ENV_CACHE_DIR = "AIMSTUDY_CACHE_DIR"


def cache_root(cache_dir: Path | None) -> Path:
    """`cache_dir`, else $AIMSTUDY_CACHE_DIR, else ~/.cache/aimstudy."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aimstudy"


def content_hash(parts: list[str] | tuple[str, ...], *columns: list[str] | None) -> str:
    """sha256 over the given strings and per-molecule text columns (SMILES, geometry)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    for column in columns:
        if column is not None:
            digest.update("\n".join(column).encode())
            digest.update(b"\1")
    return digest.hexdigest()


class GraphSet(InMemoryDataset):
    """Graphs collated into one `Data` with slices; `ds[index_tensor]` gives a cheap subset."""

    def __init__(self, data: Data, slices: dict[str, torch.Tensor]) -> None:
        super().__init__(root=None)
        self.data, self.slices = data, slices


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    """Memory-mapped load: near-instant, and parallel trials share the pages of one file."""
    return torch.load(path, weights_only=True, mmap=True)


def load_or_build(
    path: Path, build: Callable[[], tuple[dict, dict, list[int], int]]
) -> tuple[dict, bool]:
    """The cached entry at `path`, building and saving it first when missing.

    `build` returns (collated data dict, slices, kept positions into the pool, number skipped).
    Returns the stored dict (data, slices, kept, n_skipped, seconds) and whether it came from
    the cache.
    """
    if path.exists():
        return _read(path), True
    with _locked(path.with_suffix(".lock")):
        if path.exists():  # another process built it while we waited
            return _read(path), True
        start = time.perf_counter()
        data, slices, kept, n_skipped = build()
        entry = {
            "data": data,
            "slices": slices,
            "kept": torch.tensor(kept, dtype=torch.long),
            "n_skipped": int(n_skipped),
            "seconds": time.perf_counter() - start,
        }
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(entry, tmp)
        os.replace(tmp, path)
    return entry, False
