"""TPD ADME (Peteani et al., Nat. Commun. 15, 5764 (2024), CC BY 4.0): download once, cache.

The journal's Supplementary Data 1 is a zip holding one CSV (273,706 public compounds from ZINC,
ChEMBL and PROTAC-DB 2.0, a `smiles` column and 25 `pred(...)` endpoints predicted by Novartis'
ADME models). The zip is downloaded into the cache folder on first use and its CSV converted to
Parquet, so later loads read neither the network nor the 137 MB CSV.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from aimstudy.data import _csv
from aimstudy.data._cache import cache_root
from aimstudy.data._config import DataConfig
from aimstudy.data._table import MoleculeTable
from aimstudy.data._tasks import Task

URL = (
    "https://static-content.springer.com/esm/art%3A10.1038%2Fs41467-024-49979-3/"
    "MediaObjects/41467_2024_49979_MOESM4_ESM.zip"
)
ENV_URL = "AIMSTUDY_TPD_ADME_URL"  # override (a mirror, or a file:// URL in tests)
ZIP_NAME = "41467_2024_49979_MOESM4_ESM.zip"
_NOT_TARGETS = {"", "index", "public source", "source", "id"}


def download(url: str, dest: Path) -> Path:
    """Fetch `url` to `dest` atomically (a partial download never looks complete)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FileNotFoundError(
            f"tpd-adme: download of {url} failed ({exc}); download the zip "
            f"by hand and pass its path"
        ) from exc
    os.replace(tmp, dest)
    return dest


def read_zip(path: Path) -> pd.DataFrame:
    """The (largest) CSV inside the zip."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"tpd-adme: {path} is not a zip file") from exc
    with archive:
        members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")]
        if not members:
            raise ValueError(f"tpd-adme: no .csv file inside {path}")
        member = max(members, key=lambda m: m.file_size)
        with archive.open(member) as handle:
            return pd.read_csv(handle)


def local_table(cfg: DataConfig) -> tuple[pd.DataFrame, str, str]:
    """(frame, source, content key): from cfg.path, else the cached or downloaded zip."""
    if cfg.path is not None:
        path = Path(cfg.path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"tpd-adme: file not found: {path}")
        if path.suffix.lower() == ".zip":
            return read_zip(path), str(path), _csv.file_digest(path)
        return _csv.read_frame(path, "tpd-adme"), str(path), _csv.file_digest(path)
    folder = cache_root(cfg.cache_dir) / "tpd-adme"
    zip_path = folder / ZIP_NAME
    if not zip_path.exists():
        download(os.environ.get(ENV_URL, URL), zip_path)
    key = _csv.file_digest(zip_path)
    parquet = folder / f"table-{key[:16]}.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet), str(zip_path), key
    frame = read_zip(zip_path)
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(parquet.with_suffix(".tmp"))
    os.replace(parquet.with_suffix(".tmp"), parquet)
    return frame, str(zip_path), key


def _default_columns(frame: pd.DataFrame, smiles_col: str) -> list[str]:
    """Every numeric column except the SMILES, index-like and source columns."""
    return [
        c for c in frame.columns
        if c != smiles_col
        and str(c).strip().lower() not in _NOT_TARGETS
        and not str(c).startswith("Unnamed")
        and pd.api.types.is_numeric_dtype(frame[c])
    ]  # fmt: skip


def _rename(task: Task) -> Task:
    """`pred(X)` -> task X; values are model predictions in the units the authors released."""
    match = re.fullmatch(r"\s*pred\((.*)\)\s*", task.column)
    name = match.group(1) if match else task.column
    return Task(
        name,
        "as released",
        description=f"predicted {name} (Peteani et al. 2024)",
        column=task.column,
    )


def load(cfg: DataConfig) -> MoleculeTable:
    """The TPD ADME table: `tasks` 'default' = all endpoints, or a list of names/columns."""
    frame, source, key = local_table(cfg)
    smiles_col = _csv.find_smiles_column(frame, cfg.smiles_column, f"tpd-adme ({source})")
    tasks: str | list[str] = cfg.tasks
    if tasks in ("default", "all"):
        tasks = _default_columns(frame, smiles_col)
    elif isinstance(tasks, list):
        by_name = {_rename(Task(c, "", column=c)).name: c for c in frame.columns}
        tasks = [by_name.get(t, t) for t in tasks]
    table = _csv.table_from_frame(
        frame, "tpd-adme", tasks, smiles_col, source, key, cfg.split_column
    )
    table.tasks = [_rename(t) for t in table.tasks]
    return table
