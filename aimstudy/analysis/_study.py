"""Locate a finished study: its folder, MLflow store, experiment name, Optuna storage and grid.

A study is named either by its folder or by its YAML spec. The folder is read through the
driver's own `tune.StudyFolder` (`study.json`: the study and its tracking URI; `study.yaml`: the
resolved spec; `mlflow.db`, `optuna.db`); a spec finds its folder by the rule `aimstudy run`
uses (the spec's `output`, else `./results/<name>`). Both resolve to one `Study`, so the rest of
the analysis only needs a tracking URI, an experiment name and a folder to write into.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aimstudy.analysis._runs import param_value
from aimstudy.tracking import flatten_params
from aimstudy.train import leaves
from aimstudy.tune import StudyFolder, flat_assignment

__all__ = ["Study", "grid_of", "open_study", "resolve_tracking_uri"]


@dataclass(frozen=True)
class Study:
    """Where a study's results live and what it was asked to run."""

    name: str  # MLflow experiment name (= study name)
    folder: Path  # study folder: reports are written here
    tracking_uri: str  # MLflow tracking URI holding the experiment
    optuna_storage: str | None = None  # Optuna RDB URL, when the study used Optuna
    grid: dict[str, list[Any]] = field(default_factory=dict)  # the spec's grid, if known

    def expected_cells(self) -> list[dict[str, Any]]:
        """Every grid cell the spec asked for (Cartesian product, an arm's options in place of
        `grid.arms`) as dotted params, the layout trial runs log; empty when unknown."""
        if not self.grid:
            return []
        keys = list(self.grid)
        cells = [
            flatten_params(flat_assignment(dict(zip(keys, values, strict=True))))
            for values in itertools.product(*self.grid.values())
        ]
        return [{k: param_value(v) for k, v in cell.items()} for cell in cells]


def resolve_tracking_uri(uri: str, base: Path) -> str:
    """Make a relative `sqlite:///file.db` URI absolute against `base`; other URIs pass through."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base / uri[len(prefix) :]).resolve())
    return uri


def grid_of(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """A spec's `grid` as {dotted option path: values} (nested mappings flattened)."""
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        return {}
    return {k: v for k, v in leaves(grid).items() if isinstance(v, list)}


def _read_spec(path: Path) -> dict[str, Any]:
    """Load a YAML spec as a dict; a file that is not a mapping is a ValueError naming it."""
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"study spec {path}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(spec, dict):
        raise ValueError(f"study spec {path}: expected a mapping at the top level")
    return spec


def open_study(
    study: str | Path, tracking_uri: str | None = None, experiment: str | None = None
) -> Study:
    """Resolve a study folder or YAML spec into a `Study`.

    `tracking_uri` overrides the store (e.g. an MLflow server); `experiment` overrides the name.
    The grid is the given spec's; for a folder it is left to the launch read (its parent run).
    """
    path = Path(study)
    if not path.exists():
        raise FileNotFoundError(f"study {path}: no such folder or spec file")
    grid: dict[str, list[Any]] = {}
    if path.is_file():
        if path.suffix not in (".yaml", ".yml"):
            raise ValueError(f"study {path}: expected a study folder or a .yaml spec")
        spec = _read_spec(path)
        name = experiment or spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"study spec {path}: missing 'name'")
        output = spec.get("output")
        folder = StudyFolder.locate(name, output if isinstance(output, str) else None)
        grid, state = grid_of(spec), folder.read_state() or {}
    else:
        folder = StudyFolder(path.resolve())
        spec, state = folder.read_spec(), folder.read_state() or {}
        name = experiment or state.get("study") or spec.get("name") or folder.path.name
    uri = tracking_uri or state.get("tracking_uri") or _tracking_uri_of(folder, spec)
    if uri is None:
        raise FileNotFoundError(
            f"study {path}: no MLflow store found (looked for {folder.mlflow_db}); "
            "pass --tracking-uri"
        )
    return Study(
        name=str(name),
        folder=folder.path,
        tracking_uri=uri,
        optuna_storage=folder.optuna_url() if folder.optuna_db.is_file() else None,
        grid=grid,
    )


def _tracking_uri_of(folder: StudyFolder, spec: dict[str, Any]) -> str | None:
    """The MLflow URI: `mlflow.db` in the study folder, else the spec's `tracking.uri`."""
    if folder.mlflow_db.is_file():
        return folder.tracking_uri()
    tracking = spec.get("tracking") if isinstance(spec.get("tracking"), dict) else {}
    uri = tracking.get("uri") if tracking else None
    if isinstance(uri, str):
        resolved = resolve_tracking_uri(uri, folder.path)
        if not resolved.startswith("sqlite:///") or Path(resolved[len("sqlite:///") :]).is_file():
            return resolved
    return None
