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
  .lock            held by the launch that runs (`.lock.owner` says whose)
```

One folder holds one study. A second `aimstudy run` into the folder must say what it means:
`--resume` continues the launch in `study.json`, `--new-launch` starts another beside it (a new
parent run and its own Tune experiment folder); without either it is refused before anything
starts, so a launch is never continued or shadowed by accident. `--resume` continues only the
same study: a spec that changes what any trial runs is refused, naming the changed keys. One
launch runs in a folder at a time (`StudyFolder.lock`). The driver writes the folder
through `StudyFolder`, and analysis reads it through the same object, so nothing is guessed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import yaml

from aimstudy.tracking import MLFLOW_DB, REPORT_DIR, STUDY_ARTIFACT, StudyRuns, sqlite_uri
from aimstudy.train import leaves
from aimstudy.tune._storage import Storage

if TYPE_CHECKING:
    from aimstudy.tune._spec import StudySpec

STATE_FILE = "study.json"
SPEC_FILE = STUDY_ARTIFACT  # the same file the parent run holds
ARTIFACTS_DIR = "mlartifacts"
OPTUNA_DB = "optuna.db"
RAY_DIR = "ray"  # Tune experiments of the folder's launches, one subfolder per launch
RESULTS_DIR = "results"  # ./results/<study name>: the folder when neither --out nor `output`
RayPath = Path | str  # a launch's Tune experiment: a local folder, or a URI in the storage
LOCK_FILE = ".lock"
OWNER_FILE = ".lock.owner"  # beside the lock: opening the lock truncates it, so it holds nothing
# Spec keys a resumed launch may change: they change neither what a trial computes nor which
# trials run (how many run at once, where and with how many threads, retries, what is drawn).
RESUMABLE_SPEC_KEYS = ("description", "output", "resources.", "failure.", "tracking.heatmap_")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyFolder:
    """The output folder of one study at `path` (absolute; it need not exist yet).

    `storage`: where the launch state and Tune experiments live when they must outlive this
    machine (`<storage URI>/<study name>`, see `_storage.py`); None keeps them in `path`. The
    state is then written to both places, and read from the storage.
    """

    path: Path
    storage: str | None = None

    @classmethod
    def locate(
        cls,
        name: str,
        output: str | Path | None,
        out: str | Path | None = None,
        storage: str | None = None,
    ) -> StudyFolder:
        """--out, else the spec's `output`, else ./results/<study name>; always absolute."""
        path = Path(out or output or Path(RESULTS_DIR) / name).expanduser().resolve()
        return cls(path, Storage(storage).join(name) if storage else None)

    @property
    def store(self) -> Storage:
        """Where the launch state is read from: the storage, else the folder itself."""
        return Storage(self.storage or str(self.path))

    @property
    def state_location(self) -> str:
        """The launch state's file as a user would name it (messages)."""
        return self.store.join(STATE_FILE)

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
        text = self.store.read_text(STATE_FILE)
        if text is None:
            return None
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.state_location}: not valid JSON ({exc.msg})") from None
        if not isinstance(state, dict):
            raise ValueError(f"{self.state_location}: expected a JSON object")
        return state

    def read_spec(self) -> dict[str, Any]:
        """The resolved study spec of the current launch (`study.yaml`), empty when absent."""
        text = self.store.read_text(SPEC_FILE)
        spec = yaml.safe_load(text) if text is not None else None
        return spec if isinstance(spec, dict) else {}

    def write_launch(self, spec: StudySpec, runs: StudyRuns, ray_path: RayPath) -> None:
        """Point the folder at the launch that is starting (its parent run and Tune experiment)
        and save the resolved spec it runs."""
        state = {
            "study": spec.name,
            "tracking_uri": runs.tracking_uri,
            "experiment_id": runs.experiment_id,
            "parent_run_id": runs.parent_run_id,
            "ray_path": str(ray_path),
        }
        files = {
            STATE_FILE: json.dumps(state, indent=2) + "\n",
            SPEC_FILE: yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False),
        }
        for place in {self.store, Storage(str(self.path))}:
            for name, text in files.items():
                place.write_text(name, text)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one launch: a second launch into it fails at once, naming the
        holder. The OS releases the lock of a process that died; its owner note stays behind,
        which is how a stale lock is told apart and reported. A folder the lock created and
        nothing else wrote to (the launch failed first) is removed again."""
        created = not self.path.exists()
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"output folder {self.path} is a file, not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(self.path / LOCK_FILE, timeout=0)
            lock.acquire()
        except filelock.Timeout:
            raise ValueError(
                f"{self.path} is in use by another aimstudy run ({_owner(self.path)}); wait "
                "for it to end or choose another --out"
            ) from None
        except OSError as exc:
            raise ValueError(f"output folder {self.path}: cannot write ({exc.strerror})") from None
        owner_file = self.path / OWNER_FILE
        if owner_file.exists():
            _log.warning("%s: broke the stale lock of %s", self.path, _owner(self.path))
        try:
            me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.ctime()}
            owner_file.write_text(json.dumps(me) + "\n")
            yield
        finally:
            owner_file.unlink(missing_ok=True)
            lock.release()
            if created and [p.name for p in self.path.iterdir()] == [LOCK_FILE]:
                (self.path / LOCK_FILE).unlink()
                self.path.rmdir()

    def new_ray_path(self, study: str) -> RayPath:
        """A Tune experiment folder no earlier launch used: `ray/<study>-<time>[-n]` in the
        storage (a URI) or the folder (a Path). Its name also names the launch (parent run,
        Optuna study)."""
        base = f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
        name, n = base, 1
        while self.store.exists(f"{RAY_DIR}/{name}"):
            n += 1
            name = f"{base}-{n}"
        return as_ray_path(self.store.join(RAY_DIR, name))


def as_ray_path(text: str) -> RayPath:
    """A launch's Tune experiment path as saved: a Path when local, the URI itself when not."""
    return text if Storage(text).remote else Path(text)


def launch_state(
    out: Path | StudyFolder, spec: StudySpec, *, resume: bool, new_launch: bool
) -> dict[str, Any] | None:
    """The state of the launch in folder `out` to continue (`resume`), or None to start one.

    Raises ValueError (one line) when the folder already holds a launch and neither `resume`
    nor `new_launch` says what to do with it, or when it holds another study. Reads only.
    """
    check_launch_flags(resume, new_launch)
    folder = out if isinstance(out, StudyFolder) else StudyFolder(Path(out))
    state = _state(folder)
    if resume:
        if state is None:
            where = folder.storage or folder.path
            raise ValueError(f"--resume: nothing to resume in {where} (no {STATE_FILE})")
        if state.get("study") != spec.name:
            raise ValueError(
                f"--resume: {folder.state_location} belongs to study {state.get('study')!r}, "
                f"not {spec.name!r}"
            )
        check_same_spec(folder, spec)
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


def check_same_spec(folder: StudyFolder, spec: StudySpec) -> None:
    """--resume continues the launch's spec: any change but `RESUMABLE_SPEC_KEYS` is refused.

    Tune restores the launch's trials with their grid values but the current spec's shared
    options, so a changed `train.lr` would mix two learning rates in one study, and an added
    seed would be ignored; neither may pass silently."""
    saved = leaves(folder.read_spec())
    now = leaves(spec.model_dump(mode="json"))
    changed = [
        key
        for key in sorted(set(saved) | set(now))
        if saved.get(key) != now.get(key) and not key.startswith(RESUMABLE_SPEC_KEYS)
    ]
    if saved and changed:
        shown = "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed[:4])
        more = f" (and {len(changed) - 4} more)" if len(changed) > 4 else ""
        raise ValueError(
            f"--resume: the spec differs from the launch in {folder.store.join(SPEC_FILE)}: "
            f"{shown}{more}; "
            "resume with that spec, or run the changed study with --new-launch or another --out"
        )


def _owner(path: Path) -> str:
    """Who holds (or last held) the lock of folder `path`, from its owner note."""
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
        return f"pid {owner['pid']} on host {owner['host']}, since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "owner unknown"


def _state(folder: StudyFolder) -> dict[str, Any] | None:
    """`read_state` with what a run can do about a broken file."""
    try:
        return folder.read_state()
    except ValueError as exc:
        raise ValueError(f"{exc}; remove it or choose another --out") from None
