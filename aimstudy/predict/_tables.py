"""Input and output tables of `aimstudy predict`: CSV or Parquet, chosen by the file's suffix."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from aimstudy.predict._load import AnyPredictor
from aimstudy.predict._predictor import DEFAULT_BATCH_SIZE, ERROR_COLUMN

DEFAULT_SMILES_COLUMN = "smiles"
FORMATS = {".csv": "csv", ".parquet": "parquet"}


def table_format(path: Path, flag: str) -> str:
    """'csv' or 'parquet' from the suffix; ValueError naming the flag and the file otherwise."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise ValueError(f"{flag} {path}: unknown format; expected a {' or '.join(FORMATS)} file")
    return kind


def read_table(path: Path, smiles_column: str = DEFAULT_SMILES_COLUMN) -> pd.DataFrame:
    """The input table; ValueError in one line when it cannot be read or lacks the column."""
    path = Path(path)
    kind = table_format(path, "--input")
    if not path.is_file():
        raise ValueError(f"--input {path}: no such file")
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds for a broken file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"--input {path}: cannot be read as {kind} ({reason})") from None
    if smiles_column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:10])) or "none"
        raise ValueError(
            f"--input {path}: no SMILES column {smiles_column!r} (columns: {shown}); "
            "name it with --smiles-column"
        )
    return frame


def predict_table(
    predictor: AnyPredictor,
    frame: pd.DataFrame,
    smiles_column: str = DEFAULT_SMILES_COLUMN,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The input rows, in order and with every column, plus a column per task and `error`.

    ValueError before predicting when an input column has the name of an output column (it
    would be overwritten).
    """
    outputs = [*predictor.task_names, ERROR_COLUMN]
    clash = [c for c in outputs if c in frame.columns]
    if clash:
        raise ValueError(f"input columns {clash} have the names of prediction columns; rename them")
    predicted = predictor.predict(frame[smiles_column].tolist(), batch_size, progress)
    return pd.concat([frame.reset_index(drop=True), predicted], axis=1)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write through a temporary file and a rename, so a failed write leaves no partial file."""
    path = Path(path)
    kind = table_format(path, "--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if kind == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
