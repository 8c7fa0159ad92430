"""QM9 from the `qm9pack` package (offline): task sets, unit conversion, atomization energies.

The package's CSV files are read directly with pandas: importing `qm9pack` needs
`pkg_resources`, which recent setuptools removed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from aimstudy.data._table import MoleculeTable
from aimstudy.data._tasks import Task

HARTREE_TO_EV = 27.211386246  # CODATA 2018, as PyG's QM9
N_MOLECULES = 130_831

# Atomic reference energies (Hartree) of the isolated atoms at B3LYP/6-31G(2df,p), from the QM9
# "atomref" table (Ramakrishnan et al., Sci. Data 1, 140022 (2014); figshare 10.6084/m9.figshare
# .1057643). Order H, C, N, O, F = the order of qm9pack's `Stoichiometry` counts. The same
# values, in eV, are PyG's `torch_geometric.datasets.qm9.atomrefs` (targets 7-10).
ATOMREF_HARTREE: dict[str, tuple[float, float, float, float, float]] = {
    "InternalEnergy_0K_au": (-0.500273, -37.846772, -54.583861, -75.064579, -99.718730),
    "InternalEnergy_298K_au": (-0.498857, -37.845355, -54.582445, -75.063162, -99.717314),
    "Enthalphy_298K_au": (-0.497912, -37.844411, -54.581501, -75.062219, -99.716370),
    "GibbsFreeEnergy_298K_au": (-0.510927, -37.861317, -54.598897, -75.079532, -99.733544),
}

# name -> (qm9pack column, factor to training unit, unit, report unit, report factor, text)
_EV_MEV = ("eV", "meV", 1000.0)
_SPECS: dict[str, tuple[str, float, str, str, float, str]] = {
    "mu": ("Dipole_debye", 1.0, "D", "D", 1.0, "dipole moment"),
    "alpha": ("Polarizability_bohr3", 1.0, "a0^3", "a0^3", 1.0, "isotropic polarizability"),
    "homo": ("HOMO_au", HARTREE_TO_EV, *_EV_MEV, "HOMO energy"),
    "lumo": ("LUMO_au", HARTREE_TO_EV, *_EV_MEV, "LUMO energy"),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_TO_EV, *_EV_MEV, "HOMO-LUMO gap"),
    "r2": ("R2_bohr2", 1.0, "a0^2", "a0^2", 1.0, "electronic spatial extent <R^2>"),
    "zpve": ("ZPVE_au", HARTREE_TO_EV, *_EV_MEV, "zero-point vibrational energy"),
    "U0": ("InternalEnergy_0K_au", HARTREE_TO_EV, *_EV_MEV, "atomization energy U at 0 K"),
    "U": ("InternalEnergy_298K_au", HARTREE_TO_EV, *_EV_MEV, "atomization energy U at 298 K"),
    "H": ("Enthalphy_298K_au", HARTREE_TO_EV, *_EV_MEV, "atomization enthalpy at 298 K"),
    "G": ("GibbsFreeEnergy_298K_au", HARTREE_TO_EV, *_EV_MEV, "atomization free energy 298 K"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/mol/K", "cal/mol/K", 1.0, "heat capacity"),
}

TASK_SETS: dict[str, list[str]] = {
    "nashmtl11": ["mu", "alpha", "homo", "lumo", "r2", "zpve", "U0", "U", "H", "G", "cv"],
    "qm9_12": ["mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "cv"],
}
TASK_SETS["default"] = TASK_SETS["nashmtl11"]

# Raw qm9pack columns usable as tasks by their own name, in their own units.
_RAW_UNITS = {
    "RotA_GHz": "GHz",
    "RotB_GHz": "GHz",
    "RotC_GHz": "GHz",
    "InternalEnergy_0K_au": "Ha",
    "InternalEnergy_298K_au": "Ha",
    "Enthalphy_298K_au": "Ha",
    "GibbsFreeEnergy_298K_au": "Ha",
    "HOMO_au": "Ha",
    "LUMO_au": "Ha",
    "HOMO_LUMO_gap_au": "Ha",
    "ZPVE_au": "Ha",
    "Dipole_debye": "D",
    "Polarizability_bohr3": "a0^3",
    "R2_bohr2": "a0^2",
    "Heatcapacity_Cv_cal_mol_K": "cal/mol/K",
    "N_atoms": "atoms",
}


def data_dir() -> Path:
    """The `data` folder of the installed qm9pack package (found without importing it)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("qm9: package qm9pack is not installed (pip install qm9pack)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"qm9: data folder of qm9pack not found at {folder}")
    return folder


def resolve_tasks(tasks: str | list[str]) -> list[Task]:
    """Task objects for a named set or a list of task / raw column names; ValueError if unknown."""
    if isinstance(tasks, str):
        if tasks not in TASK_SETS:
            allowed = ", ".join(sorted(TASK_SETS))
            raise ValueError(f"qm9: unknown task set {tasks!r}; choose one of {allowed} or a list")
        tasks = TASK_SETS[tasks]
    out = []
    for name in tasks:
        if name in _SPECS:
            column, _, unit, report_unit, factor, text = _SPECS[name]
            out.append(Task(name, unit, report_unit, factor, text, column))
        elif name in _RAW_UNITS:
            out.append(
                Task(name, _RAW_UNITS[name], description=f"qm9pack column {name}", column=name)
            )
        else:
            allowed = ", ".join(list(_SPECS) + list(_RAW_UNITS))
            raise ValueError(f"qm9: unknown task {name!r}; choose from {allowed}")
    if len({t.name for t in out}) != len(out):
        raise ValueError(f"qm9: duplicate task in {list(tasks)}")
    return out


def convert(task: Task, frame: pd.DataFrame, counts: np.ndarray | None = None) -> np.ndarray:
    """Values of one task in training units: unit factor, atomization for U0/U/H/G. [N].

    `counts` [N, 5] are the H, C, N, O, F atom counts (parsed from the frame when not given).
    """
    values = frame[task.column].to_numpy(dtype=np.float64)
    spec = _SPECS.get(task.name)
    if spec is None:
        return values
    if task.column in ATOMREF_HARTREE:
        counts = _stoichiometry(frame) if counts is None else counts
        values = values - counts @ np.asarray(ATOMREF_HARTREE[task.column])
    return values * spec[1]


def _stoichiometry(frame: pd.DataFrame) -> np.ndarray:
    """Atom counts H, C, N, O, F per molecule from the `[4,1,0,0,0]` text column: [N, 5]."""
    text = ",".join(frame["Stoichiometry"].tolist()).replace("[", "").replace("]", "")
    return np.asarray(text.split(","), dtype=np.float64).reshape(-1, 5)


def content_key() -> str:
    """qm9pack version and data file sizes: changes whenever the shipped data changes."""
    version = importlib.metadata.version("qm9pack")
    sizes = [p.stat().st_size for p in sorted(data_dir().glob("qm9_part*.csv"))]
    return f"qm9pack-{version}-{sizes}"


def load(tasks: str | list[str], geometry: bool = False) -> MoleculeTable:
    """Read QM9 (all 130,831 molecules) with the chosen tasks; `geometry` adds XYZ text."""
    resolved = resolve_tasks(tasks)
    folder = data_dir()
    columns = ["Index", "SMILES", "Stoichiometry"] + sorted({t.column for t in resolved})
    if geometry:
        columns += ["Elements", "XYZ_Ang"]
    columns = list(dict.fromkeys(columns))
    parts = []
    for i in (1, 2, 3):
        path = folder / f"qm9_part{i}.csv"
        if not path.exists():
            raise FileNotFoundError(f"qm9: {path} not found (reinstall qm9pack)")
        parts.append(pd.read_csv(path, usecols=columns, engine="pyarrow"))
    frame = pd.concat(parts, ignore_index=True)
    counts = _stoichiometry(frame)  # [N, 5]
    targets = np.stack([convert(t, frame, counts) for t in resolved], axis=1)  # [N, T]
    return MoleculeTable(
        name="qm9",
        smiles=frame["SMILES"].astype(str).tolist(),
        targets=targets,
        tasks=resolved,
        source=f"qm9pack ({folder})",
        content_key=content_key(),
        elements=frame["Elements"].tolist() if geometry else None,
        xyz=frame["XYZ_Ang"].tolist() if geometry else None,
    )
