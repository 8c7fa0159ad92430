"""Batching with positions that can be saved: seeded per-epoch order, a cycled guidance stream."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch_geometric.data import Batch


def _order(n: int, seed: int, salt: int, cycle: int) -> list[int]:
    """A permutation of range(n) fixed by (seed, salt, cycle), independent of global RNG state."""
    gen = torch.Generator().manual_seed((seed * 1_000_003 + salt * 7_919 + cycle) % (2**63))
    return torch.randperm(n, generator=gen).tolist()


def collate(dataset: Sequence[Any], indices: Sequence[int]) -> Batch:
    """One PyG batch of the graphs at `indices`."""
    return Batch.from_data_list([dataset[i] for i in indices])


def epoch_batches(
    dataset: Sequence[Any], batch_size: int, seed: int, epoch: int, shuffle: bool = True
) -> Iterator[Batch]:
    """The batches of one epoch; the order depends only on (seed, epoch), so a resumed run
    replays exactly the order an uninterrupted run would have used."""
    n = len(dataset)
    order = _order(n, seed, 1, epoch) if shuffle else list(range(n))
    for start in range(0, n, batch_size):
        yield collate(dataset, order[start : start + batch_size])


def n_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size


class GuidanceStream:
    """An endless, reshuffled-per-cycle stream of guidance batches whose position is saved."""

    def __init__(self, dataset: Sequence[Any], batch_size: int, seed: int) -> None:
        if len(dataset) == 0:
            raise ValueError("guidance split is empty; raise guidance_fraction or n_train")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.cycle, self.pos = 0, 0
        self._order = _order(len(dataset), seed, 2, 0)

    def next(self) -> Batch:
        """The next guidance batch (wrapping to a new shuffled cycle at the end)."""
        if self.pos >= len(self._order):
            self.cycle, self.pos = self.cycle + 1, 0
            self._order = _order(len(self.dataset), self.seed, 2, self.cycle)
        idx = self._order[self.pos : self.pos + self.batch_size]
        self.pos += len(idx)
        return collate(self.dataset, idx)

    def state_dict(self) -> dict[str, int]:
        return {"cycle": self.cycle, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.cycle, self.pos = int(state["cycle"]), int(state["pos"])
        self._order = _order(len(self.dataset), self.seed, 2, self.cycle)
