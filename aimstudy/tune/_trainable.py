"""The Ray Tune function trainable: one trial = one `run_trial`, reported to Tune and MLflow.

Each epoch Tune gets the metrics and a checkpoint folder that mirrors the trial's workdir (a
`TrialFolder`, every file of it). A retried or restored trial copies the checkpoint back into a
clean workdir and `run_trial` resumes there.

Ray's `FailureConfig` retries every error alike (it has no filter by exception type), so a
trial that failed for a reason a retry cannot change (bad data or options: ValueError; a NaN
loss: NonFiniteLossError) says so in its run's error tag, and the retry reads that tag and
fails at once with the same reason, before loading any data.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimstudy.tracking import (
    ERROR_TAG,
    NODE_TAG,
    RAY_TRIAL_TAG,
    STOPPED_BY_SCHEDULER,
    STOPPED_BY_TAG,
    MLflowCallback,
    StudyRuns,
    find_trial_run,
    run_name,
)
from aimstudy.train import (
    EPOCH,
    Callback,
    EpochReport,
    NonFiniteLossError,
    TrialConfig,
    TrialFolder,
    TrialResult,
    best_epoch,
    best_key,
    best_metrics,
    leaves,
    run_trial,
)
from aimstudy.tune._spec import StudySpec, flat_assignment

# Errors that fail every attempt of a trial the same way (its input, or its deterministic
# training), so a retry would only repeat them; crashes (RuntimeError, a killed worker) retry.
FINAL_ERRORS: tuple[type[BaseException], ...] = (ValueError, NonFiniteLossError)
# Ends the error tag of a run that failed with one of them; a retry that finds it stops.
NOT_RETRIED = " (not retried: it fails the same way every time)"


@dataclass
class TrialSetup:
    """What the driver hands every trial (through `tune.with_parameters`)."""

    spec: StudySpec
    runs: StudyRuns
    extra_callbacks: list[Any] = field(default_factory=list)


class TuneReporter(Callback):
    """Reports each epoch to Tune with a checkpoint, whatever order the trainer calls hooks in.

    Also adds `best/<metric>` (the running best over epochs) for every searched metric, which
    is what Optuna optimises, and `epoch`.
    """

    def __init__(self, workdir: Path, metrics: list[str], modes: list[str]) -> None:
        self.workdir = workdir
        self.targets = list(zip(metrics, modes, strict=True))
        self.best: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._report: EpochReport | None = None
        self._checkpoint_epoch: int | None = None

    def on_epoch_end(self, report: EpochReport) -> None:
        self._report = report
        self._flush()

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        self._checkpoint_epoch = epoch
        self._flush()

    def final(self, result: TrialResult) -> dict[str, float]:
        """Last report of a trial: last epoch's metrics, the trainer's best/... metrics."""
        final = {**self.last, **{k: float(v) for k, v in result.metrics.items() if _is_number(v)}}
        for name, _ in self.targets:
            final.setdefault(name, math.nan)
            final.setdefault(best_key(name), self.best.get(name, math.nan))
        return final

    def _flush(self) -> None:
        """Send one Tune report once both the epoch's metrics and its checkpoint exist."""
        report = self._report
        if report is None or self._checkpoint_epoch != report.epoch:
            return
        from ray import tune

        metrics = {k: float(v) for k, v in report.metrics.items() if _is_number(v)}
        metrics[EPOCH] = report.epoch
        self.last = dict(metrics)
        for name, mode in self.targets:
            value = metrics.get(name)
            if value is not None and math.isfinite(value):
                old = self.best.get(name)
                better = old is None or (value < old if mode == "min" else value > old)
                self.best[name] = value if better else old
            if name in self.best:
                metrics[best_key(name)] = self.best[name]
        with tempfile.TemporaryDirectory(prefix="aimstudy-ckpt-") as tmp:
            for rel in TrialFolder(self.workdir).present():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.workdir / rel, Path(tmp) / rel)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        self._report = None


def trainable(config: dict[str, Any], setup: TrialSetup) -> None:
    """Ray Tune function trainable: config = the trial's grid/search values (dotted keys)."""
    import ray
    import torch
    from ray import tune

    spec = setup.spec
    context = tune.get_context()
    trial_id = context.get_trial_id()
    torch.set_num_threads(spec.resources.threads)
    done = find_trial_run(setup.runs, trial_id)
    if done is not None and done.info.status == "FINISHED":
        # Finished before the driver died, not yet known to Tune: report, do not rerun.
        tune.report(_finished_report(done.data.metrics, spec))
        return
    if done is not None:
        _refuse_retry(done)
    workdir = Path(context.get_trial_dir()) / "work"
    _restore(workdir, tune.get_checkpoint())
    trial_config = spec.trial_config(config)
    tracker = MLflowCallback(
        setup.runs,
        trial_id,
        study=spec.name,
        run_name=_run_name(config, trial_config, spec, trial_id),
        heatmap_epochs=spec.tracking.heatmap_epochs,
        workdir=workdir,
        extra_tags={
            RAY_TRIAL_TAG: context.get_trial_name(),
            # which cluster node ran it: the loopback cluster test checks the spread
            NODE_TAG: ray.get_runtime_context().get_node_id(),
        },
    )
    reporter = TuneReporter(workdir, spec.tune.metrics, spec.tune.modes)
    try:
        result: TrialResult = run_trial(
            trial_config, workdir=workdir, callbacks=[reporter, tracker, *setup.extra_callbacks]
        )
    except SystemExit as exc:
        if exc.code not in (0, None):  # killed (SIGTERM): a retry or --resume continues the run
            tracker.fail(f"trial process stopped (SystemExit {exc.code})")
            raise
        if spec.tune.scheduler == "fifo":
            raise  # no scheduler stops trials: Ctrl-C did, and the driver closes its run KILLED
        # Tune's scheduler (ASHA) stopped the trial, or Ctrl-C did (the driver then reopens the
        # run as KILLED): a finished run with what it trained so far.
        tracker.extra_tags[STOPPED_BY_TAG] = STOPPED_BY_SCHEDULER
        tracker.on_end(_partial_result(workdir, trial_config, tracker))
        raise
    except BaseException as exc:
        tracker.fail(_failure_reason(exc))
        raise
    tune.report(reporter.final(result))


def _failure_reason(exc: BaseException) -> str:
    """`Type: message` of a trial's error, marked as final when a retry cannot change it."""
    reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return reason + NOT_RETRIED if isinstance(exc, FINAL_ERRORS) else reason


def _refuse_retry(run: Any) -> None:
    """Fail a retry at once, with the same reason, when the trial's run FAILED for good."""
    reason = run.data.tags.get(ERROR_TAG, "")
    if run.info.status != "FAILED" or not reason.endswith(NOT_RETRIED):
        return
    kind, _, message = reason.partition(": ")
    raise (NonFiniteLossError if kind == NonFiniteLossError.__name__ else ValueError)(message)


def _finished_report(metrics: dict[str, float], spec: StudySpec) -> dict[str, float]:
    """Tune report of a trial whose MLflow run already FINISHED (latest value of each metric)."""
    report = {k: float(v) for k, v in metrics.items()}
    for name in spec.tune.metrics:
        report.setdefault(name, math.nan)
        report.setdefault(best_key(name), math.nan)
    return report


def _partial_result(workdir: Path, config: Any, tracker: MLflowCallback) -> TrialResult:
    """TrialResult of a trial stopped by the scheduler, from the history in its workdir."""
    history = TrialFolder(workdir).read_history()
    best, names = best_epoch(history), tracker.task_names
    metrics = best_metrics(history, best, names, config.method) if names else {}
    return TrialResult(best, metrics, history, workdir, names, stopped_early=True)


def _restore(workdir: Path, checkpoint: Any) -> None:
    """Start from a clean workdir; fill it from the Tune checkpoint when there is one."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            shutil.copytree(folder, workdir, dirs_exist_ok=True)


def _run_name(config: dict[str, Any], trial: TrialConfig, spec: StudySpec, trial_id: str) -> str:
    """Readable MLflow run name: the arm (the method, then the options its arm sets, the grid
    varies or the search sampled), size and seed, e.g. `aim-matrix λ_g=0 n=500 s0`. The Tune trial
    id (a tag already) is added only where names would repeat: a grid sampled more than once."""
    varied = [k for k, v in spec.grid.items() if len(v) > 1] + list(spec.tune.space)
    options = [
        (k, v)
        for k, v in leaves(flat_assignment(config)).items()
        if k not in _NAMED and (_under(k, varied) or not _under(k, list(spec.grid)))
    ]
    repeats = spec.tune.search == "grid" and spec.tune.num_samples > 1
    return run_name(trial.method, options, trial.n_train, trial.seed, trial_id if repeats else "")


_NAMED = ("method", "n_train", "seed")  # in every run name, read from the trial's config


def _under(key: str, paths: list[str]) -> bool:
    """`key` is one of `paths` or inside one (`method_options.lambda_g` under `method_options`)."""
    return any(key == p or key.startswith(f"{p}.") for p in paths)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
