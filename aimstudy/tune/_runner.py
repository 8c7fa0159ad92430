"""Run a study: MLflow experiment and parent run, Ray Tune (grid or Optuna), failure and resume.

The driver owns the study-level state: it creates the experiment and the parent run before any
trial starts, writes `study.json` (parent run, Tune experiment path) into the output folder so
`--resume` can continue the same launch (`--new-launch` starts another there, _folder.py), and
closes whatever a crash left RUNNING.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from aimstudy.tracking import (
    StudyRuns,
    check_tracking_uri,
    close_running_children,
    default_tracking_uri,
    find_trial_run,
    mark_failed,
    open_experiment,
    reopen_run,
    start_parent_run,
)
from aimstudy.train import HUGE_PAGES_ENV
from aimstudy.tune._folder import STATE_FILE, launch_state, new_ray_path, write_state
from aimstudy.tune._spec import StudySpec, flat_assignment
from aimstudy.tune._trainable import TrialSetup, trainable

SUMMARY_METRICS = (
    "epoch",
    "best/epoch",
    "best/val/norm_mae",
    "best/test/norm_mae",
    "best/test/delta_m",
)


@dataclass
class StudyOutcome:
    """Where a finished study is and how its trials went."""

    out_dir: Path
    tracking_uri: str
    runs: StudyRuns
    ray_path: Path
    table: pd.DataFrame
    n_failed: int
    optuna_storage: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    n_unfinished: int = 0

    def ui_command(self) -> str:
        """How to open the MLflow UI on this study's store: a command, or the server's URL."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return f"open {self.tracking_uri} in a browser (the study's MLflow server)"
        return f"{_mlflow_executable()} ui --backend-store-uri {self.tracking_uri}"


def _mlflow_executable() -> str:
    """`mlflow` when it is on PATH, else the one beside this Python (an unactivated venv)."""
    beside = Path(sys.executable).parent / "mlflow"
    if shutil.which("mlflow") or not beside.exists():
        return "mlflow"
    return str(beside)


def resolve_out_dir(spec: StudySpec, out_dir: str | Path | None) -> Path:
    """--out, else the spec's `output`, else ./results/<study name>; always absolute."""
    return Path(out_dir or spec.output or Path("results") / spec.name).expanduser().resolve()


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
    _quiet_env()
    out = resolve_out_dir(spec, out_dir)
    state = launch_state(out, spec, resume=resume, new_launch=new_launch)
    uri = tracking_uri or spec.tracking.uri or default_tracking_uri(out)
    if state is not None and state["tracking_uri"] != uri:
        raise ValueError(
            f"--resume: {out / STATE_FILE} tracks to {state['tracking_uri']}, not {uri}"
        )
    if address is None and not _ray_running():
        check_resources(spec, _local_resources())
    out.mkdir(parents=True, exist_ok=True)
    check_tracking_uri(uri)
    experiment_id = open_experiment(uri, spec.name, out / "mlartifacts")
    if state is not None:
        parent = state["parent_run_id"]
        reopen_run(uri, parent)
        ray_path = Path(state["ray_path"])
    else:
        ray_path = new_ray_path(out, spec.name)  # its name names the launch
        parent = start_parent_run(uri, experiment_id, spec.name, ray_path.name)
        _log_study(uri, parent, spec)
    runs = StudyRuns(uri, experiment_id, parent)
    write_state(out, spec, runs, ray_path)
    try:
        _init_ray(address, ray_init)
        check_resources(spec, _cluster_resources())
        tuner, optuna_storage = _tuner(spec, runs, ray_path, extra_callbacks, resume, progress)
        grid = tuner.fit()
    except KeyboardInterrupt:
        _close(runs, "KILLED")
        raise
    except Exception:
        _close(runs, "FAILED")
        raise
    outcome = _outcome(spec, out, runs, ray_path, grid, optuna_storage)
    # Ctrl-C makes Tune save its state and return with unfinished trials: a KILLED launch.
    _close(runs, "KILLED" if outcome.n_unfinished else "FINISHED", n_failed=outcome.n_failed)
    return outcome


# -- resources --------------------------------------------------------------------------------


def check_resources(spec: StudySpec, available: dict[str, float]) -> None:
    """One trial must fit on the machine or cluster: resources.cpu / resources.gpu."""
    for key, need in (("cpu", spec.resources.cpu), ("gpu", spec.resources.gpu)):
        have = float(available.get(key.upper(), 0.0))
        if need > have:
            hint = " (try --set resources.gpu=0)" if key == "gpu" else ""
            raise ValueError(
                f"resources.{key}: a trial needs {need:g} {key.upper()} but only {have:g} "
                f"available{hint}"
            )


def _local_resources() -> dict[str, float]:
    """What a local Ray would see, without starting it."""
    import torch

    return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}


def _cluster_resources() -> dict[str, float]:
    import ray

    return dict(ray.cluster_resources())


def _ray_running() -> bool:
    import ray

    return ray.is_initialized()


def _quiet_env() -> None:
    """Telemetry off; no warnings about checkpointing every epoch (the driver prints progress)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def _init_ray(address: str | None, extra: dict[str, Any] | None) -> None:
    """Join `address` (a cluster) or start a local Ray; reuse a session already running."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, **ray_init_kwargs(extra))


def ray_init_kwargs(extra: dict[str, Any] | None) -> dict[str, Any]:
    """Our `ray.init` defaults under the caller's `extra`; workers always get huge pages.

    Trials run in a thread of a worker process, where only huge pages cure the page faults of
    the MPNN's large tensors (aimstudy/train/_memory.py); the caller's env vars and the
    driver's environment win (`THP_MEM_ALLOC_ENABLE=0` opts out).
    """
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **(extra or {})}
    runtime_env = dict(kwargs.get("runtime_env") or {})
    ours = {key: os.environ.get(key, value) for key, value in HUGE_PAGES_ENV.items()}
    runtime_env["env_vars"] = {**ours, **(runtime_env.get("env_vars") or {})}
    kwargs["runtime_env"] = runtime_env
    return kwargs


# -- Tune -------------------------------------------------------------------------------------


def _tuner(
    spec: StudySpec,
    runs: StudyRuns,
    ray_path: Path,
    extra_callbacks: Sequence[Any],
    resume: bool,
    progress: bool,
) -> tuple[Any, str | None]:
    """A new Tuner, or the restored one of an interrupted launch (unfinished trials only)."""
    from ray import tune

    setup = TrialSetup(spec=spec, runs=runs, extra_callbacks=list(extra_callbacks))
    fn = tune.with_resources(
        tune.with_parameters(trainable, setup=setup),
        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
    )
    optuna_storage = _optuna_url(ray_path) if spec.tune.search == "optuna" else None
    if resume:
        if not tune.Tuner.can_restore(str(ray_path)):
            raise ValueError(f"--resume: no restorable Tune experiment at {ray_path}")
        tuner = tune.Tuner.restore(
            str(ray_path), trainable=fn, resume_unfinished=True, resume_errored=False
        )
        return tuner, optuna_storage
    tuner = tune.Tuner(
        fn,
        param_space=param_space(spec),
        tune_config=_tune_config(spec, optuna_storage, ray_path.name),
        run_config=_run_config(spec, ray_path, progress),
    )
    return tuner, optuna_storage


def param_space(spec: StudySpec) -> dict[str, Any]:
    """Grid -> `tune.grid_search` per option; Optuna: searched options plus fixed grid values."""
    from ray import tune

    if spec.tune.search == "optuna":
        space = {k: v[0] for k, v in spec.grid.items()}
        space.update({k: d.to_ray() for k, d in spec.tune.space.items()})
        return space
    return {key: tune.grid_search(list(values)) for key, values in spec.grid.items()}


def _tune_config(spec: StudySpec, optuna_storage: str | None, launch: str) -> Any:
    """Search, scheduler and concurrency; an Optuna search keeps its study, named after the
    launch, in `optuna_storage` (each launch in a folder its own study, none mixes another's)."""
    from ray import tune

    t = spec.tune
    search_alg = None
    if t.search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        targets = [f"best/{m}" for m in t.metrics]
        search_alg = OptunaSearch(
            metric=targets[0] if len(targets) == 1 else targets,
            mode=t.modes[0] if len(targets) == 1 else t.modes,
            sampler=optuna.samplers.TPESampler(seed=t.seed),
            study_name=launch,
            storage=optuna.storages.RDBStorage(optuna_storage),
        )
    scheduler = None
    if t.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        epochs = int(spec.train.get("epochs", 100))
        scheduler = ASHAScheduler(
            metric=t.metrics[0],
            mode=t.modes[0],
            max_t=epochs + 1,
            grace_period=min(t.grace_period, epochs),
            reduction_factor=t.reduction_factor,
        )
    return tune.TuneConfig(
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=t.num_samples,
        max_concurrent_trials=t.max_concurrent,
        # A new actor re-imports torch, PyG and RDKit (seconds per trial), so reuse them; not
        # with ASHA, whose stopped trials leave a thread behind and make reuse fail the trial.
        reuse_actors=t.scheduler == "fifo" if t.reuse_actors is None else t.reuse_actors,
    )


def _run_config(spec: StudySpec, ray_path: Path, progress: bool) -> Any:
    from ray import tune

    from aimstudy.tune._progress import ProgressPrinter

    return tune.RunConfig(
        name=ray_path.name,
        storage_path=str(ray_path.parent),
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[ProgressPrinter(spec.n_trials)] if progress else [],
        verbose=0,
    )


def _optuna_url(ray_path: Path) -> str:
    """Optuna's RDB storage: a SQLite file in the study folder (optuna-dashboard opens it)."""
    return f"sqlite:///{(ray_path.parent.parent / 'optuna.db').as_posix()}"


# -- after the run ----------------------------------------------------------------------------


def _outcome(
    spec: StudySpec,
    out: Path,
    runs: StudyRuns,
    ray_path: Path,
    grid: Any,
    optuna_storage: str | None,
) -> StudyOutcome:
    """Record failed trials in MLflow, build the summary table."""
    rows, errors, unfinished = [], {}, 0
    statuses = _trial_statuses(grid)
    for result in grid:
        trial_id = _trial_id(result)
        row: dict[str, Any] = {"trial": trial_id}
        row.update(flat_assignment(result.config or {}))
        status = statuses.get(trial_id, "TERMINATED")
        row["status"] = "ERROR" if result.error else ("OK" if status == "TERMINATED" else status)
        for key in SUMMARY_METRICS:
            value = (result.metrics or {}).get(key)
            if value is not None:
                row[key] = value
        if result.error:
            errors[trial_id] = _reason(result.error)
            _record_failure(spec, runs, trial_id, result.config or {}, errors[trial_id])
        elif status == "TERMINATED":
            _finish_stopped(runs, trial_id, result)
        else:
            unfinished += 1  # interrupted: its run is closed KILLED, --resume continues it
        rows.append(row)
    return StudyOutcome(
        out_dir=out,
        tracking_uri=runs.tracking_uri,
        runs=runs,
        ray_path=ray_path,
        table=pd.DataFrame(rows),
        n_failed=len(errors),
        optuna_storage=optuna_storage,
        errors=errors,
        n_unfinished=unfinished,
    )


def _trial_statuses(grid: Any) -> dict[str, str]:
    """Tune's status of every trial (TERMINATED, ERROR, RUNNING, PENDING...), if available."""
    analysis = getattr(grid, "_experiment_analysis", None)
    return {t.trial_id: t.status for t in getattr(analysis, "trials", None) or []}


def _trial_id(result: Any) -> str:
    metrics = result.metrics or {}
    if metrics.get("trial_id"):
        return str(metrics["trial_id"])
    return Path(result.path).name.split("_")[-3] if result.path else "?"


def _reason(error: BaseException) -> str:
    """The last line of a trial's error: what a user needs in a tag."""
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _record_failure(
    spec: StudySpec, runs: StudyRuns, trial_id: str, config: dict[str, Any], reason: str
) -> None:
    """FAILED child run with the reason; created here if the trial died before opening one."""
    from mlflow.tracking import MlflowClient

    from aimstudy.tracking import MLflowCallback, flatten_params

    run = find_trial_run(runs, trial_id)
    if run is not None:
        if run.info.status != "FAILED":
            mark_failed(runs.tracking_uri, run.info.run_id, reason)
        return
    callback = MLflowCallback(runs, trial_id, study=spec.name, run_name=f"{trial_id}-failed")
    callback.fail(reason)
    client = MlflowClient(runs.tracking_uri)
    for key, value in flatten_params(flat_assignment(config)).items():
        client.log_param(callback.run_id, key, value)


def _finish_stopped(runs: StudyRuns, trial_id: str, result: Any) -> None:
    """A trial Tune ended without error whose run is still RUNNING was stopped by the scheduler
    (ASHA): finish its run from the trial's last checkpoint."""
    from aimstudy.tracking import finish_from_files

    run = find_trial_run(runs, trial_id)
    if run is None or run.info.status != "RUNNING":
        return
    tags = {"aimstudy.stopped_by": "scheduler", "aimstudy.stopped_early": "True"}
    if result.checkpoint is None:
        finish_from_files(runs, run.info.run_id, Path("/nonexistent"), tags)
        return
    with result.checkpoint.as_directory() as folder:
        finish_from_files(runs, run.info.run_id, Path(folder), tags)


def _close(runs: StudyRuns, status: str, n_failed: int = 0) -> None:
    """Close orphaned trial runs as KILLED, then the parent run with `status`."""
    from mlflow.tracking import MlflowClient

    close_running_children(runs, "KILLED")
    client = MlflowClient(runs.tracking_uri)
    client.set_tag(runs.parent_run_id, "aimstudy.n_failed", str(n_failed))
    client.set_terminated(runs.parent_run_id, status=status)


def _log_study(uri: str, run_id: str, spec: StudySpec) -> None:
    """Study-level params and the resolved spec on the parent run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    client.log_param(run_id, "n_trials", spec.n_trials)
    client.log_param(run_id, "search", spec.tune.search)
    client.log_param(run_id, "grid", json.dumps(spec.grid)[:6000])
    client.log_text(
        run_id, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), "study.yaml"
    )


def format_table(table: pd.DataFrame) -> str:
    """The summary table as text, numbers rounded for reading."""
    if table.empty:
        return "(no trials)"
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if math.isnan(v) else f"{v:.4g}")
    return shown.to_string(index=False)
