"""The Ray Tune `Tuner` of a launch: search space, search and scheduler, run config, restore."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aimstudy.tracking import StudyRuns
from aimstudy.train import best_key
from aimstudy.tune._spec import StudySpec
from aimstudy.tune._storage import launch_name, launch_parent
from aimstudy.tune._trainable import TrialSetup, trainable


def build_tuner(
    spec: StudySpec,
    runs: StudyRuns,
    ray_path: Path | str,
    optuna_storage: str | None,
    *,
    extra_callbacks: Sequence[Any] = (),
    resume: bool = False,
    progress: bool = True,
) -> Any:
    """A new Tuner, or the restored one of an interrupted launch (unfinished trials only)."""
    from ray import tune

    setup = TrialSetup(spec=spec, runs=runs, extra_callbacks=list(extra_callbacks))
    fn = tune.with_resources(
        tune.with_parameters(trainable, setup=setup),
        {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
    )
    if resume:
        if not tune.Tuner.can_restore(str(ray_path)):
            raise ValueError(f"--resume: no restorable Tune experiment at {ray_path}")
        return tune.Tuner.restore(
            str(ray_path), trainable=fn, resume_unfinished=True, resume_errored=False
        )
    return tune.Tuner(
        fn,
        param_space=param_space(spec),
        tune_config=tune_config(spec, optuna_storage, launch_name(ray_path)),
        run_config=_run_config(spec, ray_path, progress, runs.tracking_uri),
    )


def param_space(spec: StudySpec) -> dict[str, Any]:
    """Grid -> `tune.grid_search` per option; Optuna: searched options plus fixed grid values."""
    from ray import tune

    if spec.tune.search == "optuna":
        space = {k: v[0] for k, v in spec.grid.items()}
        space.update({k: d.to_ray() for k, d in spec.tune.space.items()})
        return space
    return {key: tune.grid_search(list(values)) for key, values in spec.grid.items()}


def tune_config(spec: StudySpec, optuna_storage: str | None, launch: str) -> Any:
    """Search, scheduler and concurrency; an Optuna search keeps its study, named after the
    launch, in `optuna_storage` (each launch in a folder its own study, none mixes another's)."""
    from ray import tune

    t = spec.tune
    search_alg = None
    if t.search == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        targets = [best_key(m) for m in t.metrics]
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


def _run_config(spec: StudySpec, ray_path: Path | str, progress: bool, tracking_uri: str) -> Any:
    from ray import tune

    from aimstudy.tune._progress import ProgressPrinter

    return tune.RunConfig(
        name=launch_name(ray_path),
        storage_path=launch_parent(ray_path),
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[ProgressPrinter(spec.n_trials, tracking_uri=tracking_uri)] if progress else [],
        verbose=0,
    )
