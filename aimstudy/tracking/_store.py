"""The MLflow run hierarchy of a study: experiment, parent run per launch, child run per trial.

Everything goes through an explicit `MlflowClient(tracking_uri)`, never MLflow's global fluent
state, so the driver and many trials in one process (tests) cannot step on each other.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from aimstudy.tracking._names import (
    ERROR_TAG,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    MAX_TAG_LENGTH,
    MLFLOW_DB,
    PARENT_TAG,
    ROLE_TAG,
    STUDY_ROLE,
    STUDY_TAG,
    TRIAL_TAG,
)


@dataclass(frozen=True)
class StudyRuns:
    """Where a study's trials log: passed from the driver to every trial (picklable)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str


def sqlite_uri(path: Path) -> str:
    """An absolute `sqlite:////...` URI of a file (MLflow's and Optuna's stores take this form)."""
    return f"sqlite:///{Path(path).resolve().as_posix()}"


def default_tracking_uri(out_dir: Path) -> str:
    """SQLite store inside the study's output folder, as an absolute `sqlite:////...` URI."""
    return sqlite_uri(Path(out_dir) / MLFLOW_DB)


def is_local_store(uri: str) -> bool:
    """True for a SQLite file store, whose artifacts the driver places explicitly on disk."""
    return uri.startswith("sqlite:")


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one line, when the tracking store cannot be reached (before any trial).

    A scheme MLflow has no store for (`foo://bar`) is asked of MLflow's own store registry
    (plugins included), so the allowed schemes never drift; that registry is private, so an
    MLflow without it skips this part of the check rather than guess.
    """
    from mlflow.exceptions import MlflowException

    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry as registry
    except ImportError:
        registry = None
    try:
        if registry is not None:
            registry.get_store_builder(uri)
    except MlflowException:
        schemes = ", ".join(sorted(s for s in getattr(registry, "_registry", {}) if s))
        raise ValueError(
            f"tracking URI {uri!r}: MLflow has no store for this scheme (it knows {schemes}); "
            "use sqlite:////abs/path/mlflow.db or an http(s):// server"
        ) from None
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                if response.status != 200:
                    raise ValueError(f"tracking server {uri} answered {response.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ValueError(f"tracking server {uri} is unreachable: {reason}") from None
    elif is_local_store(uri):
        path = Path(uri.split(":///", 1)[-1])
        if not path.parent.exists():
            raise ValueError(f"tracking store {uri}: folder {path.parent} does not exist")
    elif uri.startswith("file:") or "://" not in uri:
        raise ValueError(
            f"tracking URI {uri!r}: MLflow's plain-folder store is not supported; "
            "use sqlite:////abs/path/mlflow.db or an http(s):// server"
        )


def open_experiment(uri: str, name: str, artifact_root: Path | None) -> str:
    """Get or create the study's experiment (named after the study); returns its id.

    Created here, in the driver, so concurrent trials never migrate a fresh SQLite schema at once.
    For a local store the artifact location is explicit, or artifacts would land in `./mlruns`.
    """
    client = MlflowClient(uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return existing.experiment_id
    location = None
    if artifact_root is not None and is_local_store(uri):
        artifact_root.mkdir(parents=True, exist_ok=True)
        location = artifact_root.resolve().as_uri()
    tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, STUDY_TAG: name}
    return client.create_experiment(name, artifact_location=location, tags=tags)


def start_parent_run(uri: str, experiment_id: str, study: str, run_name: str) -> str:
    """Create the parent run of one study launch; returns its id."""
    client = MlflowClient(uri)
    run = client.create_run(
        experiment_id,
        run_name=run_name,
        tags={ROLE_TAG: STUDY_ROLE, STUDY_TAG: study},
    )
    return run.info.run_id


def reopen_run(uri: str, run_id: str) -> None:
    """Mark a run RUNNING again (a resumed launch or a retried trial continues its own run)."""
    MlflowClient(uri).update_run(run_id, status="RUNNING")


def find_trial_run(runs: StudyRuns, trial_id: str) -> Run | None:
    """The child run of `trial_id` under this launch, if one was already created."""
    found = MlflowClient(runs.tracking_uri).search_runs(
        [runs.experiment_id],
        filter_string=(
            f"tags.`{TRIAL_TAG}` = '{trial_id}' and tags.`{PARENT_TAG}` = '{runs.parent_run_id}'"
        ),
        max_results=10,
    )
    if not found:
        return None
    return sorted(found, key=lambda r: r.info.start_time or 0)[0]


def child_runs(runs: StudyRuns) -> list[Run]:
    """All trial runs of this launch, oldest first."""
    client = MlflowClient(runs.tracking_uri)
    found = client.search_runs(
        [runs.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{runs.parent_run_id}'",
        max_results=50_000,
    )
    return sorted(found, key=lambda r: r.info.start_time or 0)


def mark_failed(uri: str, run_id: str, reason: str) -> None:
    """Close a trial run as FAILED with the reason as a tag (what a user reads in the UI)."""
    client = MlflowClient(uri)
    client.set_tag(run_id, ERROR_TAG, reason.strip()[-MAX_TAG_LENGTH:] or "unknown error")
    client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FAILED))


def close_running_children(runs: StudyRuns, status: str = "KILLED") -> int:
    """Close every child run still RUNNING (its trial is gone); returns how many were closed."""
    client = MlflowClient(runs.tracking_uri)
    closed = 0
    for run in child_runs(runs):
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, status=status)
            closed += 1
    return closed
