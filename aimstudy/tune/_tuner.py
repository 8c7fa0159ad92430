"""The Ray Tune `Tuner` of a launch: search space, search and scheduler, run config, restore."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aimstudy.tracking import (
    MLFLOW_RUN_ATTR,
    OPTUNA_STUDY_TAG,
    OPTUNA_TRIAL_TAG,
    TUNE_TRIAL_ATTR,
    StudyRuns,
    find_trial_run,
)
from aimstudy.train import BEST_EPOCH, best_key
from aimstudy.tune._spec import StudySpec
from aimstudy.tune._storage import launch_name, launch_parent
from aimstudy.tune._trainable import TrialSetup, trainable

logger = logging.getLogger(__name__)


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


def tune_config(
    spec: StudySpec, optuna_storage: str | None, launch: str, runs: StudyRuns | None = None
) -> Any:
    """Search, scheduler and concurrency; an Optuna search keeps its study, named after the
    launch, in `optuna_storage` (each launch in a folder its own study, none mixes another's;
    `--resume` restores the searcher, which loads the same study).

    The study names its objectives after the metrics (`best/val/norm_mae`), each Optuna trial
    records its Tune trial id and, given `runs`, its MLflow run id (user attributes) while the
    run gets the Optuna trial number (tag); a trial the scheduler stops is PRUNED in Optuna.
    """
    from ray import tune

    t = spec.tune
    search_alg = None
    if t.search == "optuna":
        import optuna

        targets = [best_key(m) for m in t.metrics]
        search_alg = _linked_optuna_search(
            runs,
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


def _linked_optuna_search(runs: StudyRuns | None, **options: Any) -> Any:
    """Ray's OptunaSearch (`options` are its arguments) with what Optuna's users expect of a
    study, which Ray leaves out: named objectives, trials linked to their MLflow runs, scheduler
    stops recorded as PRUNED (Ray tells them COMPLETE).

    Defined here, when Ray is imported, rather than at module level, so importing aimstudy does
    not import Ray; Tune saves the searcher with cloudpickle, which keeps such a class by value.
    """
    from ray.tune.search.optuna import OptunaSearch

    class LinkedOptunaSearch(OptunaSearch):
        def __init__(self, runs: StudyRuns | None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._runs = runs
            self._linked: set[str] = set()

        def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
            # Ray creates the study here, from Tune's param space (none was given above).
            created = super().set_search_properties(metric, mode, config, **spec)
            if self._ot_study is not None:
                _name_objectives(self._ot_study, self._metric)
            return created

        def suggest(self, trial_id: str) -> dict | None:
            params = super().suggest(trial_id)
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is not None and TUNE_TRIAL_ATTR not in ot_trial.user_attrs:
                ot_trial.set_user_attr(TUNE_TRIAL_ATTR, trial_id)
            return params

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            super().on_trial_result(trial_id, result)
            self._link(trial_id)

        def on_trial_complete(
            self, trial_id: str, result: dict | None = None, error: bool = False
        ) -> None:
            if trial_id in self._ot_trials and trial_id not in self._completed_trials:
                self._link(trial_id)
                if not error and result and _stopped_by_scheduler(result):
                    self._prune(trial_id, result)
                    return
            super().on_trial_complete(trial_id, result, error)

        def _prune(self, trial_id: str, result: dict) -> None:
            """Tell Optuna the trial was pruned at the result that stopped it (Ray does not
            report that one), so its value is the best it reached, as MLflow has it."""
            import optuna
            from ray.tune.result import TRAINING_ITERATION

            ot_trial = self._ot_trials[trial_id]
            value = result.get(self._metric) if isinstance(self._metric, str) else None
            if _finite(value) and TRAINING_ITERATION in result:
                ot_trial.report(float(value), int(result[TRAINING_ITERATION]))
            self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
            self._completed_trials.add(trial_id)

        def _link(self, trial_id: str) -> None:
            """Optuna trial <-> MLflow run, once the trial's run exists (its first result)."""
            if self._runs is None or trial_id in self._linked:
                return
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is not None and _link_run(self._runs, trial_id, ot_trial, self._study_name):
                self._linked.add(trial_id)

    return LinkedOptunaSearch(runs, **options)


def _name_objectives(study: Any, metric: str | list[str]) -> None:
    """The study's objective names: the searched metrics (optuna-dashboard shows them)."""
    import warnings

    import optuna

    names = [metric] if isinstance(metric, str) else list(metric)
    if study.metric_names != names:
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def _stopped_by_scheduler(result: dict) -> bool:
    """A trial's last result is an epoch's, not the trainer's final one (which carries the
    `best/epoch` of a finished trial, early stopping included): the scheduler stopped it."""
    return BEST_EPOCH not in result


def _link_run(runs: StudyRuns, trial_id: str, ot_trial: Any, study_name: str) -> bool:
    """Tag the trial's MLflow run with its Optuna trial and record the run on the Optuna trial;
    False when the run does not exist yet or the store does not answer (tried again later)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run = find_trial_run(runs, trial_id)
        if run is None:
            return False
        client = MlflowClient(runs.tracking_uri)
        client.set_tag(run.info.run_id, OPTUNA_TRIAL_TAG, str(ot_trial.number))
        client.set_tag(run.info.run_id, OPTUNA_STUDY_TAG, study_name)
    except (MlflowException, OSError) as exc:
        logger.warning("Optuna trial %s: no link to its MLflow run yet (%s)", ot_trial.number, exc)
        return False
    ot_trial.set_user_attr(MLFLOW_RUN_ATTR, run.info.run_id)
    return True


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


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
