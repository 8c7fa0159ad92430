"""`MoleculeTable`: a dataset read into memory before any featurization."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aimstudy.data._tasks import Task


@dataclass
class MoleculeTable:
    """SMILES, targets in training units and (QM9) geometry, one row per molecule.

    `targets` is [N, T] float64 with NaN where a value is not measured. `elements` and `xyz`
    hold per-molecule atom symbols and coordinates (Angstrom) as text, for 3-D featurization.
    `content_key` identifies the source content cheaply (feeds the featurization cache key,
    together with the SMILES and row numbers: the geometry is fixed by those).
    `parts` holds each row's given split part ("train" / "val" / "test", lower case) when the
    dataset was read with a split column (`DataConfig.split == "column"`), else None.
    """

    name: str
    smiles: list[str]
    targets: np.ndarray  # [N, T]
    tasks: list[Task]
    source: str
    content_key: str
    elements: list[str] | None = None
    xyz: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    rows: np.ndarray | None = None  # [N] row numbers in the full dataset (default 0..N-1)
    parts: np.ndarray | None = None  # [N] str: given split part per row, or None

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = np.arange(len(self.smiles))

    def __len__(self) -> int:
        return len(self.smiles)

    def take(self, rows: np.ndarray) -> MoleculeTable:
        """The sub-table of the given row positions (same tasks, same source)."""
        pick = [int(r) for r in rows]
        return MoleculeTable(
            name=self.name,
            smiles=[self.smiles[r] for r in pick],
            targets=self.targets[rows],
            tasks=self.tasks,
            source=self.source,
            content_key=self.content_key,
            elements=None if self.elements is None else [self.elements[r] for r in pick],
            xyz=None if self.xyz is None else [self.xyz[r] for r in pick],
            notes=list(self.notes),
            rows=self.rows[rows],
            parts=None if self.parts is None else self.parts[rows],
        )

    def label_density(self) -> np.ndarray:
        """Fraction of molecules labelled, per task: [T]."""
        if len(self) == 0:
            return np.zeros(len(self.tasks))
        return np.mean(~np.isnan(self.targets), axis=0)
