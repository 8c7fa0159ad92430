"""The MLflow callback fed with hand-made reports: run hierarchy, params, metrics, artifacts,
reuse of a trial's run on retry, FAILED with a reason, orphan runs closed."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

import aimstudy
from aimstudy.data import DataConfig, Task
from aimstudy.tracking import (
    DEVICE_TAG,
    ERROR_TAG,
    GIT_COMMIT_TAG,
    PARENT_TAG,
    TASK_TABLE_ARTIFACT,
    TRIAL_TAG,
    VERSION_TAG,
    VERSIONS_PREFIX,
    MLflowCallback,
    StudyRuns,
    check_tracking_uri,
    child_runs,
    close_running_children,
    default_tracking_uri,
    git_commit,
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
    metrics = {"epoch": float(epoch), "val/norm_mae": 1.0 / epoch, "train/loss": 2.0 / epoch}
    metrics["policy/mean_gate"] = 0.5
    return EpochReport(epoch, metrics, matrices, TASKS)


def _config() -> TrialConfig:
    return TrialConfig(dataset=DataConfig(name="qm9", limit=50), method="aim-matrix", seed=1)


def _result(workdir: Path | None) -> TrialResult:
    return TrialResult(2, {"best/val/norm_mae": 0.5, "best/epoch": 2.0}, [], workdir, TASKS)


def _image_steps(root: Path) -> set[tuple[str, int]]:
    """(key, step) of every full-size image MLflow's `log_image(key=..., step=...)` stored."""
    names = [p.name for p in (root / "images").iterdir() if p.suffix == ".png"]
    # images/<key with / as ~>+step+<step>+timestamp+<ms>+<uuid>.png (MLflow's layout)
    return {(n.split("+")[0].replace("~", "/"), int(n.split("+")[2])) for n in names}


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
    # one image series per matrix: epoch 1 chosen, the last epoch (2) always drawn
    assert _image_steps(root) == {("policy/cosine", 1), ("policy/cosine", 2)} | {
        ("policy/tau", 1),
        ("policy/tau", 2),
    }
    assert run.data.tags["mlflow.loggedImages"] == "True"
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


def test_a_retry_that_runs_a_logged_epoch_again_logs_it_once(runs: StudyRuns) -> None:
    first = MLflowCallback(runs, "t3")
    first.on_start(_config(), [])
    for epoch in (1, 2):
        first.on_epoch_end(_report(epoch))
    first.fail("RuntimeError: killed before epoch 2's checkpoint")
    second = MLflowCallback(runs, "t3")  # resumes from epoch 1's checkpoint
    second.on_start(_config(), [])
    for epoch in (2, 3):
        second.on_epoch_end(_report(epoch))
    second.on_end(_result(None))
    client = MlflowClient(runs.tracking_uri)
    for key in ("epoch", "val/norm_mae"):
        assert [m.step for m in client.get_metric_history(first.run_id, key)] == [1, 2, 3]


def test_skipped_smiles_are_tagged_on_the_trial_run(runs: StudyRuns) -> None:
    callback = MLflowCallback(runs, "t4")
    callback.on_start(_config(), [])
    callback.on_data(2, ["not-a-smiles", "C1CC"])
    tags = MlflowClient(runs.tracking_uri).get_run(callback.run_id).data.tags
    assert tags["aimstudy.skipped_smiles"] == "2"
    assert json.loads(tags["aimstudy.skipped_smiles_first"]) == ["not-a-smiles", "C1CC"]


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


def test_trial_run_carries_provenance_and_a_per_task_table(
    runs: StudyRuns, artifacts: Path
) -> None:
    tasks = [Task("mu", "D"), Task("homo", "eV", "meV", 1000.0)]
    metrics = {
        "best/epoch": 1.0,
        "best/val/mae/mu": 0.5,
        "best/test/mae/mu": 0.6,
        "best/val/mae/homo": 90.0,
        "best/test/mae/homo": 95.0,
    }
    callback = MLflowCallback(runs, "t5")
    callback.on_start(_config(), tasks)
    callback.on_epoch_end(_report(1))
    callback.on_end(TrialResult(1, metrics, [], None, ["mu", "homo"]))
    tags = MlflowClient(runs.tracking_uri).get_run(callback.run_id).data.tags
    assert tags[VERSION_TAG] == aimstudy.__version__
    assert tags[DEVICE_TAG] == "cpu"  # "auto" as the trial resolved it, on this CPU machine
    assert tags[VERSIONS_PREFIX + "torch"] == torch.__version__
    assert tags[VERSIONS_PREFIX + "mlflow"] == mlflow.__version__
    assert (GIT_COMMIT_TAG in tags) == (git_commit() is not None)
    table = json.loads(
        (artifacts / callback.run_id / "artifacts" / TASK_TABLE_ARTIFACT).read_text()
    )
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert rows == [
        {"task": "mu", "unit": "D", "val_mae": 0.5, "test_mae": 0.6},
        {"task": "homo", "unit": "meV", "val_mae": 90.0, "test_mae": 95.0},
    ]
    logged = json.loads(tags["mlflow.loggedArtifacts"])
    assert {"path": TASK_TABLE_ARTIFACT, "type": "table"} in logged  # the UI's table view
