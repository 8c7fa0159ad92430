"""Run a study: open its MLflow experiment and launch, start Ray, fit the Tuner, close the launch.

The driver owns the study-level state: it creates the experiment and the parent run before any
trial starts, writes the study folder (`_folder.py`: the launch in `study.json`, the resolved
spec) so `--resume` can continue the same launch (`--new-launch` starts another there), and
closes whatever a crash left RUNNING. Ray (`_ray.py`), the Tuner (`_tuner.py`), the summary
(`_outcome.py`) and every MLflow write (`aimstudy.tracking`) live in their own modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aimstudy.tracking import (
    StudyRuns,
    check_tracking_uri,
    close_launch,
    log_launch,
    open_experiment,
    reopen_run,
    start_parent_run,
)
from aimstudy.tune import _ray
from aimstudy.tune._folder import StudyFolder, launch_state
from aimstudy.tune._outcome import StudyOutcome, close_trial_runs, summary_table, trial_ends
from aimstudy.tune._spec import StudySpec
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
    folder = StudyFolder.locate(spec.name, spec.output, out_dir)
    state = launch_state(folder.path, spec, resume=resume, new_launch=new_launch)
    uri = tracking_uri or spec.tracking.uri or folder.tracking_uri()
    if state is not None and state["tracking_uri"] != uri:
        raise ValueError(
            f"--resume: {folder.state_file} tracks to {state['tracking_uri']}, not {uri}"
        )
    if address is None and not _ray.ray_running():
        _ray.check_resources(spec, _ray.local_resources())
    runs, ray_path = _open_launch(spec, folder, uri, state)
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
        grid = tuner.fit()
    except KeyboardInterrupt:
        close_launch(runs, "KILLED")
        raise
    except Exception:
        close_launch(runs, "FAILED")
        raise
    ends = trial_ends(grid)
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


def _open_launch(
    spec: StudySpec, folder: StudyFolder, uri: str, state: dict[str, Any] | None
) -> tuple[StudyRuns, Path]:
    """The experiment and the parent run of the launch (reopened when `state` continues one),
    written into the study folder; returns them and the launch's Tune experiment path."""
    folder.path.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(uri)
    experiment_id = open_experiment(uri, spec.name, folder.artifacts)
    if state is not None:
        parent = state["parent_run_id"]
        reopen_run(uri, parent)
        ray_path = Path(state["ray_path"])
    else:
        ray_path = folder.new_ray_path(spec.name)  # its name names the launch
        parent = start_parent_run(uri, experiment_id, spec.name, ray_path.name)
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
