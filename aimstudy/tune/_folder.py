"""A study's output folder: the launch it holds (`study.json`) and whether a run may use it.

One folder holds one study: its MLflow store, its Tune experiments under `ray/` and the state
file of its current launch. A second `aimstudy run` into the folder must say what it means:
`--resume` continues the launch in `study.json`, `--new-launch` starts another beside it (a new
parent run and its own Tune experiment folder); without either it is refused before anything
starts, so a launch is never continued or shadowed by accident.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aimstudy.tracking import StudyRuns
from aimstudy.tune._spec import StudySpec

STATE_FILE = "study.json"
RAY_DIR = "ray"  # Tune experiments of the folder's launches, one subfolder per launch


def launch_state(
    out: Path, spec: StudySpec, *, resume: bool, new_launch: bool
) -> dict[str, Any] | None:
    """The state of the launch to continue (`resume`), or None to start a new one.

    Raises ValueError (one line) when the folder already holds a launch and neither `resume`
    nor `new_launch` says what to do with it, or when it holds another study. Reads only.
    """
    check_launch_flags(resume, new_launch)
    if resume:
        return read_state(out, spec)
    path = out / STATE_FILE
    if not path.is_file():
        return None
    state = _load(path)
    if state.get("study") != spec.name:
        raise ValueError(
            f"{out} holds study {state.get('study')!r}, not {spec.name!r}; choose another --out"
        )
    if not new_launch:
        raise ValueError(
            f"{out} already holds a launch of {spec.name!r} ({STATE_FILE}): continue it with "
            "--resume, or start another in the same folder and MLflow experiment with --new-launch"
        )
    return None


def check_launch_flags(resume: bool, new_launch: bool) -> None:
    """`resume` continues the folder's launch, `new_launch` starts another: not both."""
    if resume and new_launch:
        raise ValueError(
            "--resume and --new-launch: give one (continue the folder's launch, or start another)"
        )


def read_state(out: Path, spec: StudySpec) -> dict[str, Any]:
    """The state of the launch `--resume` continues; it must belong to `spec`."""
    path = out / STATE_FILE
    if not path.is_file():
        raise ValueError(f"--resume: nothing to resume in {out} (no {STATE_FILE})")
    state = _load(path)
    if state.get("study") != spec.name:
        raise ValueError(
            f"--resume: {path} belongs to study {state.get('study')!r}, not {spec.name!r}"
        )
    return state


def write_state(out: Path, spec: StudySpec, runs: StudyRuns, ray_path: Path) -> None:
    """Point the folder at the launch that is starting: its parent run and Tune experiment."""
    state = {
        "study": spec.name,
        "tracking_uri": runs.tracking_uri,
        "experiment_id": runs.experiment_id,
        "parent_run_id": runs.parent_run_id,
        "ray_path": str(ray_path),
    }
    (out / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def new_ray_path(out: Path, study: str) -> Path:
    """A Tune experiment folder no earlier launch in `out` used: `ray/<study>-<time>[-n]`.

    Its name also names the launch (parent run, Optuna study)."""
    base = out / RAY_DIR / f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not valid JSON ({exc.msg}); remove it or choose another --out"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a JSON object; remove it or choose another --out")
    return state
