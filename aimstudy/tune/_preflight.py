"""Checks a study must pass in the driver before Ray starts: data, metrics, tracking, folder.

A spec can be valid and still fail in every trial: a column the file lacks, an `n_train` above
the pool, a `tune.metric` no trial reports. Each trial would find it 30-50 s after Ray started,
be retried, and print a page of Ray tracebacks. `preflight` prepares every distinct dataset
configuration of the study once (which also warms the feature cache the trials load) and
raises ValueError with one line naming what and where.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aimstudy.data import DataConfig, PreparedData, load_dataset, prepare
from aimstudy.tracking import (
    SKIPPED_COUNT_TAG,
    SKIPPED_FIRST_TAG,
    check_tracking_uri,
    is_local_store,
)
from aimstudy.train import (
    BEST_PREFIX,
    DELTA_M_METRIC,
    EPOCH,
    LOOP_METRICS,
    SPLITS,
    EpochDiagnostics,
    TrialConfig,
    is_reference,
    split_diagnostics,
    split_metrics,
)
from aimstudy.tune._spec import ARMS_KEY, StudySpec, _validation_assignments, _where

# tests/tune/test_preflight.py compares the whole derived set of metric names with a real
# trial's history, so a renamed or added key fails there rather than drifting here.
POLICY_PREFIX = "policy/"  # method diagnostics, which depend on the method and its options
# The trial options that change what `prepare` returns (its arguments).
_DATA_KEYS = ("dataset", "n_train", "guidance_fraction", "seed")


@dataclass(frozen=True)
class DataFacts:
    """One distinct dataset configuration of a study, as the driver prepared it."""

    dataset: str  # name (file)
    n_molecules: int  # kept after featurization
    n_skipped: int  # could not be featurized (invalid or empty SMILES)
    skipped: tuple[str, ...]  # the first few skipped SMILES
    from_cache: bool  # its graphs were already in the feature cache
    seconds: float  # time to prepare it the first time in this preflight


@dataclass
class Preflight:
    """What the driver checked before Ray started: lines to print, facts to record."""

    data: list[DataFacts] = field(default_factory=list)
    n_prepared: int = 0  # distinct (dataset, n_train, guidance_fraction, seed) prepared
    seconds: float = 0.0

    @property
    def lines(self) -> list[str]:
        """What the driver prints once at start: skipped molecules per dataset, and the time."""
        out = []
        for facts in self.data:
            if facts.n_skipped:
                total = facts.n_molecules + facts.n_skipped
                out.append(
                    f"{facts.dataset}: {facts.n_skipped} of {total} molecules skipped (invalid "
                    f"or empty SMILES), first: {', '.join(map(repr, facts.skipped))}"
                )
        cached = sum(f.from_cache for f in self.data)
        out.append(
            f"data checked: {len(self.data)} dataset configuration(s), {self.n_prepared} "
            f"split(s) in {self.seconds:.1f} s ({cached} from the feature cache)"
        )
        return out

    def tags(self) -> dict[str, str]:
        """Skipped SMILES as MLflow tags of the parent run: the count and the first few (JSON);
        keys get a `.<i>` suffix when the study has several dataset configurations."""
        tags: dict[str, str] = {}
        for i, facts in enumerate(self.data):
            suffix = f".{i}" if len(self.data) > 1 else ""
            tags[SKIPPED_COUNT_TAG + suffix] = str(facts.n_skipped)
            tags[SKIPPED_FIRST_TAG + suffix] = json.dumps(list(facts.skipped))
        return tags


def preflight(spec: StudySpec, out_dir: Path, tracking_uri: str) -> Preflight:
    """Check the tracking URI, the output folder, every dataset configuration and the metrics.

    Raises ValueError (one line) on the first problem; writes nothing (a probe file in the
    output folder, or its nearest existing parent, is removed at once).
    """
    start = time.perf_counter()
    _check_store(tracking_uri, Path(out_dir))
    check_writable(Path(out_dir))
    result = Preflight()
    facts: dict[str, DataFacts] = {}
    tasks: dict[str, list[str]] = {}  # data case -> its task names
    for assignment, config in _trials(spec):
        case = _case_key(config)
        if case not in tasks:
            t0 = time.perf_counter()
            data = _prepare(spec, assignment, config)
            tasks[case] = data.task_names
            facts.setdefault(_dataset_key(config.dataset), _facts(config, data, t0))
        check_metrics(spec, config, tasks[case], assignment)
    result.data, result.n_prepared = list(facts.values()), len(tasks)
    result.seconds = time.perf_counter() - start
    return result


def _check_store(uri: str, out_dir: Path) -> None:
    """The tracking URI; a SQLite store inside the output folder (the default) is checked with
    the folder, which the run creates, and one elsewhere must be in a writable folder."""
    if is_local_store(uri):
        folder = Path(uri.split(":///", 1)[-1]).parent
        if folder.resolve().is_relative_to(out_dir.resolve()):
            return
        check_tracking_uri(uri)
        check_writable(folder, what="tracking store folder")
        return
    check_tracking_uri(uri)


def check_writable(out_dir: Path, what: str = "output folder") -> None:
    """The folder (or, when missing, its nearest existing parent) must be a writable directory:
    a probe file is created and removed, which catches read-only modes, mounts and immutable
    folders alike (and root, where a mode check alone would pass)."""
    probe = out_dir
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        kind = "is a file" if probe == out_dir else f"has a file in its path: {probe}"
        raise ValueError(f"{what} {out_dir} {kind}; choose another --out")
    try:
        handle, name = tempfile.mkstemp(prefix=".aimstudy-probe-", dir=probe)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        where = "" if probe == out_dir else f" (nothing can be created in {probe})"
        raise ValueError(
            f"{what} {out_dir} cannot be written: {exc.strerror or exc}{where}; "
            "choose another --out"
        ) from None


def check_metrics(
    spec: StudySpec, config: TrialConfig, task_names: list[str], assignment: dict[str, Any]
) -> None:
    """Every `tune.metric` (also ASHA's) must be a metric the trial reports each epoch."""
    reported = epoch_metrics(config, task_names)
    if any(m.startswith(POLICY_PREFIX) and m not in reported for m in spec.tune.metrics):
        reported |= policy_metrics(config, task_names)  # a toy step: only when asked for
    for i, metric in enumerate(spec.tune.metrics):
        if metric in reported:
            continue
        where = "tune.metric" + (f"[{i}]" if isinstance(spec.tune.metric, list) else "")
        used = {"asha": " (ASHA compares it)", "fifo": ""}[spec.tune.scheduler]
        used += " (Optuna optimises its best value)" if spec.tune.search == "optuna" else ""
        raise ValueError(
            f"{where}: {metric!r} is not a metric trial ({_where(assignment)}) reports{used}; "
            f"{_hint(metric, reported, task_names)}"
        )


def epoch_metrics(config: TrialConfig, task_names: list[str]) -> set[str]:
    """The metric names a trial of `config` reports every epoch (the keys Tune compares),
    except the method's `policy/...` diagnostics (`policy_metrics`).

    Split metrics come from the trainer's own `split_metrics`, so task and split naming cannot
    drift.
    """
    n = len(task_names)
    names = {EPOCH, *LOOP_METRICS}
    for split in SPLITS:
        names |= set(split_metrics(split, np.zeros(n), np.ones(n), np.ones(n), task_names, [1] * n))
    if config.stl_reference:
        names.add(DELTA_M_METRIC)
    return names


def policy_metrics(config: TrialConfig, task_names: list[str]) -> set[str]:
    """`policy/...` names the method reports: its diagnostics of two toy steps (one with the
    gradient-cosine diagnosis, one without), named as the trainer names them."""
    from aimstudy import mtl
    from aimstudy.testing import ToyProblem

    if is_reference(config.method):
        return set()  # fitted once, no task gradients: nothing to diagnose
    method = mtl.get(config.method, n_tasks=len(task_names), **config.method_options)
    problem, diag = ToyProblem(n_tasks=len(task_names)), EpochDiagnostics()
    for diagnose in (config.diagnose_every > 0, False):
        diag.add(method.backward(problem.inputs(diagnose=diagnose)))
        problem.sgd_step()
    return set(split_diagnostics(diag.means(), task_names)[0])


def _hint(metric: str, reported: set[str], task_names: list[str]) -> str:
    """The closest reported names, and what best/... is (trials add it themselves)."""
    if metric.startswith(BEST_PREFIX):
        base = metric.removeprefix(BEST_PREFIX)
        return f"give the epoch metric {base!r}: trials add {BEST_PREFIX}<metric> themselves"
    close = difflib.get_close_matches(metric, sorted(reported), n=3, cutoff=0.5)
    near = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    return f"{near}e.g. val/norm_mae or val/mae/<task> (tasks: {', '.join(task_names)})"


def _trials(spec: StudySpec) -> list[tuple[dict[str, Any], TrialConfig]]:
    """(assignment, config) of every grid cell, or of Optuna's fixed values and each searched
    option's examples: what `validate_spec` checks, now against the data."""
    return [(a, spec.trial_config(a)) for a in _validation_assignments(spec)]


def _case_key(config: TrialConfig) -> str:
    """What `prepare` depends on: trials that share it share their data."""
    return json.dumps(config.model_dump(mode="json", include=set(_DATA_KEYS)), sort_keys=True)


def _prepare(spec: StudySpec, assignment: dict[str, Any], config: TrialConfig) -> PreparedData:
    """`prepare` as the trial calls it; its error as one line naming the dataset's file, and
    the trial's values that differ between trials (n_train, seed...) when the error is theirs."""
    cfg = config.dataset
    try:
        return prepare(cfg, config.n_train, config.guidance_fraction, config.seed)
    except (ValueError, OSError) as exc:  # OSError: an unreadable file, an unwritable cache
        error = exc
    try:  # only on failure: does the dataset itself fail (its file, columns, tasks)?
        load_dataset(cfg, geometry=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"dataset: {_located(cfg, exc)}") from None
    varying = _varying_keys(spec)
    trial = {k: v for k, v in assignment.items() if k in varying and _is_data_key(k)}
    prefix = f"dataset of trial ({_where(trial)})" if trial else "dataset"
    raise ValueError(f"{prefix}: {_located(cfg, error)}") from None


def _located(cfg: DataConfig, exc: BaseException) -> str:
    """The error's message on one line, naming the dataset's file when it does not yet."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if cfg.path is None or str(cfg.path) in message:
        return message
    return f"{cfg.name} ({cfg.path}): {message.removeprefix(f'{cfg.name}: ')}"


def _varying_keys(spec: StudySpec) -> set[str]:
    """Option paths that differ between trials: the ones worth naming in an error."""
    keys = {k for k, values in spec.grid.items() if len(values) > 1} | set(spec.tune.space)
    arms = spec.grid.get(ARMS_KEY, [])
    return keys | ({k for arm in arms for k in arm} if len(arms) > 1 else set())


def _is_data_key(path: str) -> bool:
    return path.split(".")[0] in _DATA_KEYS


def _facts(config: TrialConfig, data: PreparedData, start: float) -> DataFacts:
    cfg = config.dataset
    name = cfg.name if cfg.path is None else f"{cfg.name} ({cfg.path})"
    seconds = time.perf_counter() - start
    return DataFacts(
        dataset=name,
        n_molecules=data.n_molecules,
        n_skipped=data.n_skipped,
        skipped=tuple(data.skipped_smiles),
        from_cache=data.from_cache,
        seconds=seconds,
    )


def _dataset_key(cfg: DataConfig) -> str:
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
