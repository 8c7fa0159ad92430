"""Any CSV / Parquet table of SMILES plus numeric targets (sparse labels allowed), and presets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from aimstudy.data._config import SPLIT_PARTS
from aimstudy.data._table import MoleculeTable
from aimstudy.data._tasks import Task

# The Biogen ADME file shipped inside the package (MIT; LICENSE and source note beside it), so
# `name: biogen` needs no download and no path.
BIOGEN_FILE = Path(__file__).parent / "files" / "biogen_adme" / "ADME_public_set_3521.csv"
_SHOW_BAD_PARTS = 5  # distinct offending split values an error names

# Biogen ADME (Fang et al., J. Chem. Inf. Model. 2023, MIT): six sparse log10-scale endpoints.
# column -> (task name, unit, description)
BIOGEN: dict[str, tuple[str, str, str]] = {
    "LOG HLM_CLint (mL/min/kg)": (
        "HLM_CLint",
        "log10(mL/min/kg)",
        "human liver microsomal intrinsic clearance",
    ),
    "LOG MDR1-MDCK ER (B-A/A-B)": ("MDR1_ER", "log10(ratio)", "MDR1-MDCK efflux ratio"),
    "LOG SOLUBILITY PH 6.8 (ug/mL)": ("solubility", "log10(ug/mL)", "aqueous solubility at pH 6.8"),
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": (
        "hPPB",
        "log10(% unbound)",
        "human plasma protein binding",
    ),
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": (
        "rPPB",
        "log10(% unbound)",
        "rat plasma protein binding",
    ),
    "LOG RLM_CLint (mL/min/kg)": (
        "RLM_CLint",
        "log10(mL/min/kg)",
        "rat liver microsomal intrinsic clearance",
    ),
}
PRESETS: dict[str, dict[str, tuple[str, str, str]]] = {"biogen": BIOGEN}

_SMILES_NAMES = ("smiles", "canonical_smiles", "smiles_string", "mol_smiles")


def read_frame(path: Path, what: str) -> pd.DataFrame:
    """Read a .csv / .csv.gz / .parquet file; FileNotFoundError / ValueError naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what}: file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        sep = "\t" if ".tsv" in suffixes else ","
        return pd.read_csv(path, sep=sep)
    raise ValueError(f"{what}: unsupported file type {path.name!r}; use .csv, .tsv or .parquet")


def find_smiles_column(frame: pd.DataFrame, given: str | None, where: str) -> str:
    """The SMILES column: the one given, else a column named like 'smiles' (any case)."""
    if given is not None:
        if given not in frame.columns:
            raise ValueError(
                f"{where}: SMILES column {given!r} not found; columns: {list(frame.columns)}"
            )
        return given
    by_lower = {str(c).lower(): c for c in frame.columns}
    for name in _SMILES_NAMES:
        if name in by_lower:
            return by_lower[name]
    raise ValueError(
        f"{where}: no SMILES column found (set smiles_column); columns: {list(frame.columns)}"
    )


def unit_of(column: str) -> str:
    """The unit written in a trailing '(...)' of a column name, else ''."""
    match = re.search(r"\(([^()]*)\)\s*$", column)
    return match.group(1) if match else ""


def _is_index(column: str) -> bool:
    """A row-number or identifier column (pandas index, 'Vendor ID'), never a default target."""
    name = column.strip().lower()
    return (
        name in ("", "index", "id")
        or name.startswith("unnamed:")
        or re.search(r"(^|[\s_\-])id$", name) is not None  # "Vendor ID", "mol_id"
    )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def resolve_tasks(
    frame: pd.DataFrame, tasks: str | list[str], smiles_col: str, where: str
) -> list[Task]:
    """Tasks from a preset name, 'default'/'all' (every numeric column) or a list of columns."""
    if isinstance(tasks, str):
        if tasks in PRESETS:
            preset = PRESETS[tasks]
            missing = [c for c in preset if c not in frame.columns]
            if missing:
                raise ValueError(f"{where}: preset {tasks!r} needs column(s) {missing}")
            out = [Task(n, u, description=d, column=c) for c, (n, u, d) in preset.items()]
            _check_numeric(frame, [t.column for t in out], where)
            return out
        if tasks not in ("default", "all"):
            raise ValueError(
                f"{where}: unknown task set {tasks!r}; use 'default', "
                f"{', '.join(repr(p) for p in PRESETS)} or a list of columns"
            )
        columns = [
            c for c in frame.columns
            if c != smiles_col and _is_numeric(frame[c]) and not _is_index(str(c))
        ]  # fmt: skip
        if not columns:
            raise ValueError(f"{where}: no numeric target column besides {smiles_col!r}")
    else:
        columns = list(tasks)
    by_name = {n: c for c, (n, _, _) in BIOGEN.items()}  # short Biogen names also accepted
    columns = [by_name.get(c, c) if c not in frame.columns else c for c in columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: column(s) {missing} not found; columns: {list(frame.columns)}")
    _check_numeric(frame, columns, where)
    out = []
    for column in columns:
        if column in BIOGEN:
            name, unit, text = BIOGEN[column]
            out.append(Task(name, unit, description=text, column=column))
        else:
            out.append(Task(str(column), unit_of(str(column)), column=str(column)))
    return out


def _check_numeric(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    bad = [c for c in columns if not _is_numeric(frame[c])]
    if bad:
        raise ValueError(f"{where}: target column(s) {bad} are not numeric")


def read_parts(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """Each row's split part from `column`: train / val / test, case and spaces ignored.

    ValueError naming the column and a few offending values with their counts (empty cells
    count as offending: every row needs a part).
    """
    if column not in frame.columns:
        raise ValueError(
            f"{where}: split column {column!r} not found (split: column needs a column of "
            f"{'/'.join(SPLIT_PARTS)} per row); columns: {list(frame.columns)}"
        )
    raw = frame[column]
    labels = raw.astype(str).str.strip().str.lower().where(raw.notna(), "")
    bad = ~labels.isin(SPLIT_PARTS)
    if bad.any():
        counts = raw[bad].map(repr).where(raw[bad].notna(), "<empty>").value_counts()
        shown = ", ".join(f"{v} x{n}" for v, n in counts.head(_SHOW_BAD_PARTS).items())
        more = f" and {len(counts) - _SHOW_BAD_PARTS} more" if len(counts) > _SHOW_BAD_PARTS else ""
        raise ValueError(
            f"{where}: split column {column!r} has {int(bad.sum())} row(s) that are not "
            f"{'/'.join(SPLIT_PARTS)} (case-insensitive): {shown}{more}"
        )
    return labels.to_numpy(dtype=str)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (the content key of a CSV dataset)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_from_frame(
    frame: pd.DataFrame,
    name: str,
    tasks: str | list[str],
    smiles_column: str | None,
    source: str,
    content_key: str,
    split_column: str | None = None,
) -> MoleculeTable:
    """A MoleculeTable from an in-memory frame: validate columns, keep rows with a SMILES.

    `split_column`: also read each row's given split part (`MoleculeTable.parts`).
    """
    where = f"{name} ({source})"
    smiles_col = find_smiles_column(frame, smiles_column, where)
    resolved = resolve_tasks(frame, tasks, smiles_col, where)
    parts = None if split_column is None else read_parts(frame, split_column, where)
    smiles = frame[smiles_col]
    targets = np.stack(
        [frame[t.column].to_numpy(dtype=np.float64, na_value=np.nan) for t in resolved], axis=1
    )  # [N, T]
    notes = []
    empty = smiles.isna().to_numpy()
    if empty.any():
        notes.append(f"{int(empty.sum())} row(s) without SMILES counted as skipped")
    return MoleculeTable(
        name=name,
        smiles=["" if e else str(s) for s, e in zip(smiles.tolist(), empty, strict=True)],
        targets=targets,
        tasks=resolved,
        source=source,
        content_key=content_key,
        notes=notes,
        parts=parts,
    )


def load(
    path: Path | None,
    tasks: str | list[str],
    smiles_column: str | None,
    name: str = "csv",
    split_column: str | None = None,
) -> MoleculeTable:
    """Read a CSV / Parquet file into a MoleculeTable; the file path is required."""
    if path is None:
        raise ValueError(f"{name}: dataset needs a file path (DataConfig.path / --path)")
    path = Path(path).expanduser()
    frame = read_frame(path, name)
    key = f"{file_digest(path)}-{smiles_column}"
    return table_from_frame(frame, name, tasks, smiles_column, str(path), key, split_column)
