"""A prediction task: one target column with its training and reporting units."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One regression target.

    `unit` is the unit of the values the model trains on (graph `y`); metrics are reported in
    `report_unit`, i.e. training values times `report_factor` (QM9 energies: eV -> meV, x1000).
    """

    name: str
    unit: str
    report_unit: str = ""
    report_factor: float = 1.0
    description: str = ""
    column: str = ""  # source column in the raw table

    def __post_init__(self) -> None:
        if not self.report_unit:
            object.__setattr__(self, "report_unit", self.unit)
