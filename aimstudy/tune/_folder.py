"""A study's output folder: what the driver writes there, and whether a run may use it.

```
<out>/
  study.json       the current launch: study, tracking URI, experiment, parent run, Tune path
  study.yaml       the resolved study spec of that launch
  mlflow.db        the MLflow store (unless tracking.uri names another)
  mlartifacts/     its artifacts
  optuna.db        Optuna's studies, one per launch (search: optuna)
  ray/<launch>/    one Tune experiment per launch, named <study>-<time>[-n]
  report/          written by `aimstudy report`
```

One folder holds one study. A second `aimstudy run` into the folder must say what it means:
`--resume` continues the launch in `study.json`, `--new-launch` starts another beside it (a new
parent run and its own Tune experiment folder); without either it is refused before anything
starts, so a launch is never continued or shadowed by accident. The driver writes the folder
through `StudyFolder`, and analysis reads it through the same object, so nothing is guessed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aimstudy.tracking import MLFLOW_DB, REPORT_DIR, STUDY_ARTIFACT, StudyRuns, sqlite_uri

if TYPE_CHECKING:
    from aimstudy.tune._spec import StudySpec

STATE_FILE = "study.json"
SPEC_FILE = STUDY_ARTIFACT  # the same file the parent run holds
ARTIFACTS_DIR = "mlartifacts"
OPTUNA_DB = "optuna.db"
RAY_DIR = "ray"  # Tune experiments of the folder's launches, one subfolder per launch
RESULTS_DIR = "results"  # ./results/<study name>: the folder when neither --out nor `output`


@dataclass(frozen=True)
class StudyFolder:
    """The output folder of one study at `path` (absolute; it need not exist yet)."""

    path: Path

    @classmethod
    def locate(
        cls, name: str, output: str | Path | None, out: str | Path | None = None
    ) -> StudyFolder:
        """--out, else the spec's `output`, else ./results/<study name>; always absolute."""
        return cls(Path(out or output or Path(RESULTS_DIR) / name).expanduser().resolve())

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def spec_file(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def mlflow_db(self) -> Path:
        return self.path / MLFLOW_DB

    @property
    def artifacts(self) -> Path:
        return self.path / ARTIFACTS_DIR

    @property
    def optuna_db(self) -> Path:
        return self.path / OPTUNA_DB

    @property
    def report(self) -> Path:
        """Where `aimstudy report` writes (the same name as the report's artifact folder)."""
        return self.path / REPORT_DIR

    def tracking_uri(self) -> str:
        """The default MLflow store: `mlflow.db` in the folder."""
        return sqlite_uri(self.mlflow_db)

    def optuna_url(self) -> str:
        """Optuna's RDB storage: `optuna.db` in the folder (optuna-dashboard opens it)."""
        return sqlite_uri(self.optuna_db)

    def read_state(self) -> dict[str, Any] | None:
        """The current launch (`study.json`), None when the folder holds none."""
        if not self.state_file.is_file():
            return None
        try:
            state = json.loads(self.state_file.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.state_file}: not valid JSON ({exc.msg})") from None
        if not isinstance(state, dict):
            raise ValueError(f"{self.state_file}: expected a JSON object")
        return state

    def read_spec(self) -> dict[str, Any]:
        """The resolved study spec of the current launch (`study.yaml`), empty when absent."""
        if not self.spec_file.is_file():
            return {}
        spec = yaml.safe_load(self.spec_file.read_text())
        return spec if isinstance(spec, dict) else {}

    def write_launch(self, spec: StudySpec, runs: StudyRuns, ray_path: Path) -> None:
        """Point the folder at the launch that is starting (its parent run and Tune experiment)
        and save the resolved spec it runs."""
        state = {
            "study": spec.name,
            "tracking_uri": runs.tracking_uri,
            "experiment_id": runs.experiment_id,
            "parent_run_id": runs.parent_run_id,
            "ray_path": str(ray_path),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        self.spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))

    def new_ray_path(self, study: str) -> Path:
        """A Tune experiment folder no earlier launch used: `ray/<study>-<time>[-n]`.

        Its name also names the launch (parent run, Optuna study)."""
        base = self.path / RAY_DIR / f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return path


def launch_state(
    out: Path, spec: StudySpec, *, resume: bool, new_launch: bool
) -> dict[str, Any] | None:
    """The state of the launch in folder `out` to continue (`resume`), or None to start one.

    Raises ValueError (one line) when the folder already holds a launch and neither `resume`
    nor `new_launch` says what to do with it, or when it holds another study. Reads only.
    """
    check_launch_flags(resume, new_launch)
    folder = StudyFolder(Path(out))
    state = _state(folder)
    if resume:
        if state is None:
            raise ValueError(f"--resume: nothing to resume in {folder.path} (no {STATE_FILE})")
        if state.get("study") != spec.name:
            raise ValueError(
                f"--resume: {folder.state_file} belongs to study {state.get('study')!r}, "
                f"not {spec.name!r}"
            )
        return state
    if state is None:
        return None
    if state.get("study") != spec.name:
        raise ValueError(
            f"{folder.path} holds study {state.get('study')!r}, not {spec.name!r}; "
            "choose another --out"
        )
    if not new_launch:
        raise ValueError(
            f"{folder.path} already holds a launch of {spec.name!r} ({STATE_FILE}): continue it "
            "with --resume, or start another in the same folder and MLflow experiment with "
            "--new-launch"
        )
    return None


def check_launch_flags(resume: bool, new_launch: bool) -> None:
    """`resume` continues the folder's launch, `new_launch` starts another: not both."""
    if resume and new_launch:
        raise ValueError(
            "--resume and --new-launch: give one (continue the folder's launch, or start another)"
        )


def _state(folder: StudyFolder) -> dict[str, Any] | None:
    """`read_state` with what a run can do about a broken file."""
    try:
        return folder.read_state()
    except ValueError as exc:
        raise ValueError(f"{exc}; remove it or choose another --out") from None
