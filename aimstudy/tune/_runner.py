"""Run a study: open its MLflow experiment and launch, start Ray, fit the Tuner, close the launch.

The driver owns the study-level state: it creates the experiment and the parent run before any
trial starts, writes the study folder (`_folder.py`: the launch in `study.json`, the resolved
spec) so `--resume` can continue the same launch (`--new-launch` starts another there), and
closes whatever a crash left RUNNING. It holds the folder's lock for the whole launch, and
turns SIGTERM into Tune's Ctrl-C: trials stop, the launch stays resumable. Ray (`_ray.py`), the
Tuner (`_tuner.py`), the summary (`_outcome.py`) and every MLflow write (`aimstudy.tracking`)
live in their own modules.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aimstudy.tracking import (
    StudyRuns,
    check_tracking_uri,
    close_launch,
    is_local_store,
    log_launch,
    log_tags,
    open_experiment,
    reopen_run,
    start_parent_run,
)
from aimstudy.tune import _ray
from aimstudy.tune._folder import RayPath, StudyFolder, as_ray_path, launch_state
from aimstudy.tune._outcome import StudyOutcome, close_trial_runs, summary_table, trial_ends
from aimstudy.tune._preflight import preflight
from aimstudy.tune._spec import StudySpec
from aimstudy.tune._storage import Storage, launch_name
from aimstudy.tune._tuner import build_tuner


def resolve_out_dir(spec: StudySpec, out_dir: str | Path | None) -> Path:
    """--out, else the spec's `output`, else ./results/<study name>; always absolute."""
    return StudyFolder.locate(spec.name, spec.output, out_dir).path


def run_study(
    spec: StudySpec,
    out_dir: str | Path | None = None,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    resume: bool = False,
    new_launch: bool = False,
    extra_callbacks: Sequence[Any] = (),
    ray_init: dict[str, Any] | None = None,
    progress: bool = True,
) -> StudyOutcome:
    """Run (or resume) every trial of `spec`; returns where results are and a summary table.

    A folder that already holds a launch needs `resume` (continue it) or `new_launch` (start
    another beside it): refused otherwise, before Ray starts or anything is written.
    """
    _ray.quiet_env()
    folder = StudyFolder.locate(spec.name, spec.output, out_dir, spec.storage)
    if folder.storage is not None:
        Storage(folder.storage).check()  # before reading state from it: one line if unusable
    state = launch_state(folder, spec, resume=resume, new_launch=new_launch)
    uri = (
        tracking_uri
        or spec.tracking.uri
        or os.environ.get("MLFLOW_TRACKING_URI")  # as MLflow itself, when nothing else says
        or folder.tracking_uri()
    )
    if state is not None and state["tracking_uri"] != uri:
        raise ValueError(
            f"--resume: {folder.state_location} tracks to {state['tracking_uri']}, not {uri}"
        )
    _check_storage_tracking(folder, uri)
    if address is None and not _ray.ray_running():
        _ray.check_resources(spec, _ray.local_resources())
    with folder.lock():
        checked = preflight(spec, folder.path, uri)  # data, metrics, tracking URI, folder
        if progress:
            for line in checked.lines:
                print(line, flush=True)
        runs, ray_path = _open_launch(spec, folder, uri, state)
        log_tags(uri, runs.parent_run_id, checked.tags())
        optuna_storage = folder.optuna_url() if spec.tune.search == "optuna" else None
        try:
            _ray.init_ray(address, ray_init)
            _ray.check_resources(spec, _ray.cluster_resources())
            tuner = build_tuner(
                spec,
                runs,
                ray_path,
                optuna_storage,
                extra_callbacks=extra_callbacks,
                resume=resume,
                progress=progress,
            )
            with _sigterm_as_ctrl_c():
                grid = tuner.fit()
        except KeyboardInterrupt:
            close_launch(runs, "KILLED")
            raise
        except Exception:
            close_launch(runs, "FAILED")
            raise
        ends = trial_ends(grid, ray_path)
        close_trial_runs(spec.name, runs, ends)
        errors = {end.trial_id: end.error for end in ends if end.error is not None}
        n_unfinished = sum(end.unfinished for end in ends)
        # Ctrl-C makes Tune save its state and return with unfinished trials: a KILLED launch.
        close_launch(runs, "KILLED" if n_unfinished else "FINISHED", n_failed=len(errors))
    return StudyOutcome(
        out_dir=folder.path,
        tracking_uri=uri,
        runs=runs,
        ray_path=ray_path,
        table=summary_table(ends),
        n_failed=len(errors),
        optuna_storage=optuna_storage,
        errors=errors,
        n_unfinished=n_unfinished,
    )


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (a scheduler's or `kill`'s stop) takes Tune's Ctrl-C path: trials are stopped and
    the launch saved for `--resume`, instead of the driver dying with trials left RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_storage_tracking(folder: StudyFolder, uri: str) -> None:
    """Remote storage outlives this machine only with a tracking store that does too."""
    if folder.storage is not None and Storage(folder.storage).remote and is_local_store(uri):
        raise ValueError(
            f"storage {folder.storage}: the tracking store {uri} is a file on this machine; give "
            "--tracking-uri http://HOST:PORT (an MLflow server) so the study outlives it"
        )


def _open_launch(
    spec: StudySpec, folder: StudyFolder, uri: str, state: dict[str, Any] | None
) -> tuple[StudyRuns, RayPath]:
    """The experiment and the parent run of the launch (reopened when `state` continues one),
    written into the study folder; returns them and the launch's Tune experiment path."""
    folder.path.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(uri)
    experiment_id = open_experiment(uri, spec.name, folder.artifacts)
    if state is not None:
        parent = state["parent_run_id"]
        reopen_run(uri, parent)
        ray_path = as_ray_path(state["ray_path"])
    else:
        ray_path = folder.new_ray_path(spec.name)  # its name names the launch
        parent = start_parent_run(uri, experiment_id, spec.name, launch_name(ray_path))
        log_launch(
            uri,
            parent,
            n_trials=spec.n_trials,
            search=spec.tune.search,
            grid=spec.grid,
            spec=spec.model_dump(mode="json"),
        )
    runs = StudyRuns(uri, experiment_id, parent)
    folder.write_launch(spec, runs, ray_path)
    return runs, ray_path
