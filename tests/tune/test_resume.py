"""A driver killed mid-study (SIGKILL) resumes with `aimstudy run --resume` to completion:
finished trials do not rerun, every trial ends as exactly one FINISHED MLflow run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aimstudy.tracking import TRIAL_TAG, StudyRuns, child_runs
from tests.tune.conftest import TEST_ENV, tiny_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, **TEST_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "aimstudy.cli", "run", *args],
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _runs(out: Path) -> StudyRuns | None:
    state = out / "study.json"
    if not state.exists():
        return None
    import json

    data = json.loads(state.read_text())
    return StudyRuns(data["tracking_uri"], data["experiment_id"], data["parent_run_id"])


def _wait_for_progress(process: subprocess.Popen, out: Path, log: Path, timeout_s: float) -> None:
    """Until one trial is FINISHED and, if it comes soon, another has logged an epoch."""
    deadline = time.monotonic() + timeout_s
    first_done = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"driver ended before the kill: {log.read_text()[-3000:]}")
        runs = _runs(out)
        if runs is not None:
            found = child_runs(runs)
            finished = [r for r in found if r.info.status == "FINISHED"]
            started = [r for r in found if r.info.status == "RUNNING" and r.data.metrics]
            if finished and first_done is None:
                first_done = time.monotonic()
            if finished and (started or time.monotonic() - first_done > 20):
                return
        time.sleep(0.5)
    raise AssertionError(f"no progress to interrupt: {log.read_text()[-3000:]}")


def test_killed_driver_resumes_to_one_finished_run_per_trial(
    ray_session: str, data_cache: Path, tmp_path: Path
) -> None:
    raw = tiny_raw(
        "resume-study",
        data_cache,
        # The second trial runs 8x longer than the first, so the kill after the first one
        # finished always lands while the second is still training (on a quiet machine too).
        grid={"method": ["ls"], "n_train": [40], "seed": [0], "epochs": [5, 40]},
        tune={"max_concurrent": 1},
    )
    study = tmp_path / "resume.yaml"
    study.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    args = [str(study), "--out", str(out), "--address", ray_session]

    first = _cli(args, tmp_path / "first.log")
    try:
        _wait_for_progress(first, out, tmp_path / "first.log", timeout_s=240)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the driver and anything it started itself
        first.wait()
    runs = _runs(out)
    assert runs is not None
    client = MlflowClient(runs.tracking_uri)
    before = {r.data.tags[TRIAL_TAG]: r for r in child_runs(runs)}
    done_before = {t: r.info.end_time for t, r in before.items() if r.info.status == "FINISHED"}
    assert len(done_before) == 1
    assert client.get_run(runs.parent_run_id).info.status == "RUNNING"  # what a crash leaves

    second = _cli([*args, "--resume"], tmp_path / "second.log")
    assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    output = (tmp_path / "second.log").read_text()
    assert "2 trial(s) finished, 0 failed" in output
    assert f"mlflow ui --backend-store-uri {runs.tracking_uri}" in output

    after = child_runs(runs)
    trial_ids = [r.data.tags[TRIAL_TAG] for r in after]
    assert len(after) == 2 and len(set(trial_ids)) == 2
    assert set(before) <= set(trial_ids)
    assert {r.info.status for r in after} == {"FINISHED"}
    for run in after:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/norm_mae")]
        epochs = int(run.data.params["epochs"])
        assert sorted(set(steps)) == list(range(1, epochs + 1))
        if run.data.tags[TRIAL_TAG] in done_before:  # not rerun
            assert run.info.end_time == done_before[run.data.tags[TRIAL_TAG]]
            assert run.data.tags["aimstudy.attempts"] == "1"
    assert client.get_run(runs.parent_run_id).info.status == "FINISHED"
    parents = client.search_runs(
        [runs.experiment_id], filter_string="tags.`aimstudy.role` = 'study'"
    )
    assert [p.info.run_id for p in parents] == [runs.parent_run_id]  # the launch continued
