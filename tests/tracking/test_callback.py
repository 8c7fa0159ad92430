"""The MLflow callback fed with hand-made reports: run hierarchy, params, metrics, artifacts,
reuse of a trial's run on retry, FAILED with a reason, orphan runs closed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from aimstudy.data import DataConfig
from aimstudy.tracking import (
    ERROR_TAG,
    PARENT_TAG,
    TRIAL_TAG,
    MLflowCallback,
    StudyRuns,
    check_tracking_uri,
    child_runs,
    close_running_children,
    default_tracking_uri,
    open_experiment,
    start_parent_run,
)
from aimstudy.train import EpochReport, TrialConfig, TrialResult

TASKS = ["mu", "alpha", "homo"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """One SQLite store per module: creating its schema takes seconds."""
    root = tmp_path_factory.mktemp("store")
    uri = default_tracking_uri(root)
    assert uri == f"sqlite:///{root.resolve()}/mlflow.db" and uri.startswith("sqlite:////")
    experiment = open_experiment(uri, "unit-study", root / "mlartifacts")
    assert open_experiment(uri, "unit-study", root / "mlartifacts") == experiment
    return uri, experiment, root


@pytest.fixture
def runs(store: tuple[str, str, Path]) -> StudyRuns:
    """A fresh parent run (launch) per test."""
    uri, experiment, _ = store
    parent = start_parent_run(uri, experiment, "unit-study", "launch")
    return StudyRuns(uri, experiment, parent)


@pytest.fixture
def artifacts(store: tuple[str, str, Path]) -> Path:
    return store[2] / "mlartifacts"


def _report(epoch: int) -> EpochReport:
    rng = np.random.default_rng(epoch)
    matrices = {"tau": rng.normal(size=(3, 3)), "cosine": rng.uniform(-1, 1, size=(3, 3))}
    metrics = {"val/norm_mae": 1.0 / epoch, "train/loss": 2.0 / epoch, "policy/mean_gate": 0.5}
    return EpochReport(epoch, metrics, matrices, TASKS)


def _config() -> TrialConfig:
    return TrialConfig(dataset=DataConfig(name="qm9", limit=50), method="aim-matrix", seed=1)


def _result(workdir: Path | None) -> TrialResult:
    return TrialResult(2, {"best/val/norm_mae": 0.5, "best/epoch": 2.0}, [], workdir, TASKS)


def test_child_run_has_params_metrics_and_artifacts(runs: StudyRuns, artifacts: Path) -> None:
    callback = MLflowCallback(runs, "t0", study="unit-study", heatmap_epochs=[1])
    callback.on_start(_config(), [])
    for epoch in (1, 2):
        callback.on_epoch_end(_report(epoch))
    callback.on_end(_result(None))

    client = MlflowClient(runs.tracking_uri)
    run = client.get_run(callback.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[PARENT_TAG] == runs.parent_run_id
    assert run.data.tags[TRIAL_TAG] == "t0"
    assert run.data.tags["aimstudy.role"] == "trial"
    assert run.data.params["method"] == "aim-matrix"
    assert run.data.params["dataset.limit"] == "50"
    history = client.get_metric_history(callback.run_id, "val/norm_mae")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5)]
    assert run.data.metrics["best/val/norm_mae"] == 0.5

    root = artifacts / callback.run_id / "artifacts"
    heatmaps = sorted(p.name for p in (root / "policy" / "heatmaps").iterdir())
    # epoch 1 chosen, the last epoch (2) always drawn
    assert heatmaps == [
        "cosine_epoch0001.png",
        "cosine_epoch0002.png",
        "tau_epoch0001.png",
        "tau_epoch0002.png",
    ]
    policy = pd.read_parquet(root / "policy" / "policy.parquet")
    assert set(policy.matrix) == {"tau", "cosine"} and set(policy.epoch) == {1, 2}
    assert len(policy) == 2 * 2 * 9
    assert "dataset:" in (root / "config.yaml").read_text()


def test_workdir_files_are_logged(runs: StudyRuns, artifacts: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    (workdir / "checkpoints").mkdir(parents=True)
    (workdir / "checkpoints" / "best.pt").write_bytes(b"weights")
    pd.DataFrame({"epoch": [1]}).to_parquet(workdir / "metrics.parquet")
    callback = MLflowCallback(runs, "t1", workdir=workdir)
    callback.on_start(_config(), [])
    callback.on_epoch_end(_report(1))
    callback.on_end(_result(workdir))
    root = artifacts / callback.run_id / "artifacts"
    assert (root / "checkpoint" / "best.pt").read_bytes() == b"weights"
    assert (root / "metrics.parquet").is_file()
    assert (root / "policy" / "policy.parquet").is_file()  # written from the reports


def test_retry_reuses_the_trial_run_and_failure_is_recorded(runs: StudyRuns) -> None:
    first = MLflowCallback(runs, "t2")
    first.on_start(_config(), [])
    first.on_epoch_end(_report(1))
    first.fail("RuntimeError: worker died")
    client = MlflowClient(runs.tracking_uri)
    failed = client.get_run(first.run_id)
    assert failed.info.status == "FAILED"
    assert failed.data.tags[ERROR_TAG] == "RuntimeError: worker died"

    second = MLflowCallback(runs, "t2")
    second.on_start(_config(), [])
    assert second.run_id == first.run_id and second.resumed
    second.on_epoch_end(_report(2))
    second.on_end(_result(None))
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["aimstudy.attempts"] == "2"
    steps = [m.step for m in client.get_metric_history(first.run_id, "val/norm_mae")]
    assert steps == [1, 2]
    assert [r.data.tags[TRIAL_TAG] for r in child_runs(runs)] == ["t2"]


def test_orphans_are_closed_as_killed(runs: StudyRuns) -> None:
    for trial in ("a", "b"):
        MLflowCallback(runs, trial).on_start(_config(), [])
    assert close_running_children(runs) == 2
    assert {r.info.status for r in child_runs(runs)} == {"KILLED"}
    assert close_running_children(runs) == 0


def test_unreachable_or_unsupported_stores_fail_fast(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unreachable"):
        check_tracking_uri("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(ValueError, match="plain-folder"):
        check_tracking_uri(str(tmp_path / "mlruns"))
    with pytest.raises(ValueError, match="does not exist"):
        check_tracking_uri(f"sqlite:///{tmp_path}/missing/mlflow.db")
