"""Locate a finished study: its folder, MLflow store, experiment name, Optuna storage and grid.

A study is named either by its folder (`<out>/<study-name>/` holding `mlflow.db`, maybe
`optuna.db` and a copy of the spec) or by its YAML spec. Both resolve to one `Study`, so the
rest of the analysis only needs a tracking URI, an experiment name and a folder to write into.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aimstudy.analysis._runs import param_value
from aimstudy.tracking import flatten_params
from aimstudy.tune import flat_assignment

__all__ = ["Study", "open_study", "resolve_tracking_uri"]

_SPEC_NAMES = ("study.yaml", "spec.yaml", "study.yml", "spec.yml")
_OPTUNA_NAMES = ("optuna.db", "optuna.sqlite", "optuna.sqlite3")
STATE_FILE = "study.json"  # written by `aimstudy run` into the study folder


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


def _read_spec(path: Path) -> dict[str, Any]:
    """Load a YAML spec as a dict; a file that is not a mapping is a ValueError naming it."""
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"study spec {path}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(spec, dict):
        raise ValueError(f"study spec {path}: expected a mapping at the top level")
    return spec


def _grid_of(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """The spec's `grid` as {param: values}, flattening one nested level to dotted keys."""
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        return {}
    flat: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if isinstance(values, dict):
            for sub, sub_values in values.items():
                if isinstance(sub_values, list):
                    flat[f"{key}.{sub}"] = sub_values
        elif isinstance(values, list):
            flat[key] = values
    return flat


def _is_study_folder(folder: Path) -> bool:
    """A folder `aimstudy run` wrote: it holds `study.json` or an `mlflow.db`."""
    return (folder / STATE_FILE).is_file() or (folder / "mlflow.db").is_file()


def _folder_from_spec(spec_path: Path, spec: dict[str, Any], name: str) -> Path:
    """The study folder of a YAML spec, as `aimstudy run` chooses it: the spec's `output`
    (relative to the working directory), else `./results/<name>`; a few nearby places too."""
    candidates: list[Path] = []
    output = spec.get("output")
    if isinstance(output, str):
        candidates += [Path(output), spec_path.parent / output, Path(output) / name]
    roots = [Path.cwd(), spec_path.parent, spec_path.parent.parent]
    candidates += [root / sub / name for root in roots for sub in ("results", "runs", "out")]
    for candidate in candidates:
        if _is_study_folder(candidate):
            return candidate.resolve()
    return (Path(output) if isinstance(output, str) else Path("results") / name).resolve()


def _state(folder: Path) -> dict[str, Any]:
    """The driver's `study.json` (study name, tracking URI, parent run), empty when absent."""
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg})") from exc
    return state if isinstance(state, dict) else {}


def _find_spec_in(folder: Path) -> Path | None:
    """A spec copy saved in the study folder, if any."""
    for name in _SPEC_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def _optuna_storage(folder: Path, spec: dict[str, Any]) -> str | None:
    """The Optuna RDB URL: from the spec's tune section, else an `optuna.db` in the folder."""
    tune = spec.get("tune") if isinstance(spec.get("tune"), dict) else {}
    storage = tune.get("storage") if tune else None
    if isinstance(storage, str):
        return resolve_tracking_uri(storage, folder)
    for name in _OPTUNA_NAMES:
        if (folder / name).is_file():
            return f"sqlite:///{(folder / name).resolve()}"
    return None


def open_study(
    study: str | Path, tracking_uri: str | None = None, experiment: str | None = None
) -> Study:
    """Resolve a study folder or YAML spec into a `Study`.

    `tracking_uri` overrides the store (e.g. an MLflow server); `experiment` overrides the name.
    """
    path = Path(study)
    if not path.exists():
        raise FileNotFoundError(f"study {path}: no such folder or spec file")
    if path.is_file():
        if path.suffix not in (".yaml", ".yml"):
            raise ValueError(f"study {path}: expected a study folder or a .yaml spec")
        spec = _read_spec(path)
        name = experiment or spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"study spec {path}: missing 'name'")
        folder = _folder_from_spec(path, spec, name)
    else:
        folder = path.resolve()
        spec_path = _find_spec_in(folder)
        spec = _read_spec(spec_path) if spec_path else {}
        name = experiment or _state(folder).get("study") or spec.get("name") or folder.name
    uri = tracking_uri or _state(folder).get("tracking_uri") or _tracking_uri_of(folder, spec)
    if uri is None:
        raise FileNotFoundError(
            f"study {path}: no MLflow store found (looked for {folder / 'mlflow.db'}); "
            "pass --tracking-uri"
        )
    return Study(
        name=str(name),
        folder=folder,
        tracking_uri=uri,
        optuna_storage=_optuna_storage(folder, spec),
        grid=_grid_of(spec),
    )


def _tracking_uri_of(folder: Path, spec: dict[str, Any]) -> str | None:
    """The MLflow URI: `mlflow.db` in the study folder, else the spec's `tracking.uri`."""
    if (folder / "mlflow.db").is_file():
        return f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    tracking = spec.get("tracking") if isinstance(spec.get("tracking"), dict) else {}
    uri = tracking.get("uri") if tracking else None
    if isinstance(uri, str):
        resolved = resolve_tracking_uri(uri, folder)
        if not resolved.startswith("sqlite:///") or Path(resolved[len("sqlite:///") :]).is_file():
            return resolved
    return None
