"""Featurize a pool into one collated set of tensors, chunk by chunk, optionally in processes.

Chunks keep the peak memory near twice the final size (a list of 130k 3-D `Data` objects plus
their collated copy needs about three times), and they are the unit of work for worker
processes (`AIMSTUDY_FEATURIZE_WORKERS`, default 1 = in this process).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import torch
from torch_geometric.data import Data, InMemoryDataset

from aimstudy.data import _featurize
from aimstudy.data._table import MoleculeTable

ENV_WORKERS = "AIMSTUDY_FEATURIZE_WORKERS"
CHUNK = 4096

Chunk = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[int]]


def _featurize_chunk(
    kind: str, start: int, smiles: list[str], elements: list[str] | None, xyz: list[str] | None
) -> Chunk:
    """Collated graphs of one chunk and the pool positions of the molecules kept."""
    torch.set_num_threads(1)
    graphs, kept = [], []
    for i, text in enumerate(smiles):
        if kind == "3d":
            graph = _featurize.featurize_3d(text, elements[i], xyz[i])
        else:
            graph = _featurize.featurize_2d(text)
        if graph is not None:
            graphs.append(graph)
            kept.append(start + i)
    if not graphs:
        return {}, {}, []
    data, slices = InMemoryDataset.collate(graphs)
    return data.to_dict(), dict(slices), kept


def _merge(chunks: list[Chunk]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Concatenate collated chunks: values along each key's cat dim, slices offset."""
    chunks = [c for c in chunks if c[2]]
    if len(chunks) == 1:
        return chunks[0][0], chunks[0][1]
    data, slices = {}, {}
    probe = Data()
    for key, first in chunks[0][0].items():
        dim = probe.__cat_dim__(key, first) or 0
        data[key] = torch.cat([c[0][key] for c in chunks], dim=dim)
        parts, offset = [chunks[0][1][key]], chunks[0][1][key][-1]
        for c in chunks[1:]:
            parts.append(c[1][key][1:] + offset)
            offset = offset + c[1][key][-1]
        slices[key] = torch.cat(parts)
    return data, slices


def workers() -> int:
    """Worker processes for featurization, from $AIMSTUDY_FEATURIZE_WORKERS (default 1)."""
    value = os.environ.get(ENV_WORKERS, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_WORKERS}={value!r}: expected a positive integer")
    return int(value)


def build_pool(table: MoleculeTable, kind: str) -> tuple[dict, dict, list[int], int]:
    """(data dict, slices, kept positions, n_skipped) of every molecule of `table`."""
    jobs = []
    for start in range(0, len(table), CHUNK):
        stop = min(start + CHUNK, len(table))
        geo = kind == "3d"
        jobs.append((
            kind,
            start,
            table.smiles[start:stop],
            table.elements[start:stop] if geo else None,
            table.xyz[start:stop] if geo else None,
        ))  # fmt: skip
    n_workers = min(workers(), len(jobs))
    if n_workers > 1:
        context = multiprocessing.get_context("fork")  # as torch DataLoader workers on Linux
        with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            chunks = list(pool.map(_featurize_chunk, *zip(*jobs, strict=True)))
    else:
        chunks = [_featurize_chunk(*job) for job in jobs]
    kept = [i for c in chunks for i in c[2]]
    if not kept:
        return {}, {}, [], len(table)
    data, slices = _merge(chunks)
    return data, slices, kept, len(table) - len(kept)
