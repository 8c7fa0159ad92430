"""Ctrl-C is not completion: a driver interrupted mid-study exits 130 with the `--resume`
command, its interrupted trial's run is KILLED (not FINISHED) at the epoch it reached, and
`--resume` trains every trial to the end of its schedule, each epoch once in MLflow. While the
first driver runs, a second launch into its folder is refused, naming the holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aimstudy.tracking import INTERRUPTED_TAG, STOPPED_BY_TAG, TRIAL_TAG, StudyRuns, child_runs
from tests.tune.conftest import TEST_ENV, tiny_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCHS = 120  # the long trial: the interrupt lands while it trains, on a quiet machine too


def _cli(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aimstudy.cli", "run", *args],
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env={**os.environ, **TEST_ENV},
    )


def _runs(out: Path) -> StudyRuns | None:
    state = out / "study.json"
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    return StudyRuns(data["tracking_uri"], data["experiment_id"], data["parent_run_id"])


def _wait_for_the_long_trial(process: subprocess.Popen, out: Path, log: Path) -> StudyRuns:
    """Until the short trial is FINISHED and the long one has logged two epochs."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"driver ended before the interrupt: {log.read_text()[-3000:]}")
        runs = _runs(out)
        if runs is not None:
            found = child_runs(runs)
            finished = [r for r in found if r.info.status == "FINISHED"]
            training = [r for r in found if r.data.metrics.get("epoch", 0) >= 2]
            if finished and any(r.info.status == "RUNNING" for r in training):
                return runs
        time.sleep(0.3)
    raise AssertionError(f"no progress to interrupt: {log.read_text()[-3000:]}")


def test_ctrl_c_then_resume_completes_every_trial_once(
    ray_session: str, data_cache: Path, tmp_path: Path
) -> None:
    raw = tiny_raw(
        "interrupt-study",
        data_cache,
        grid={"method": ["ls"], "n_train": [40], "seed": [0], "epochs": [2, EPOCHS]},
        tune={"max_concurrent": 1},
        resources={"cpu": 1, "gpu": 0},
    )
    study = tmp_path / "interrupt.yaml"
    study.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    args = [str(study), "--out", str(out), "--address", ray_session]

    first = _cli(args, tmp_path / "first.log")
    try:
        runs = _wait_for_the_long_trial(first, out, tmp_path / "first.log")
        second = subprocess.run(
            [sys.executable, "-m", "aimstudy.cli", "run", *args, "--resume"],
            capture_output=True,
            text=True,
            env={**os.environ, **TEST_ENV},
            timeout=120,
        )
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=120) == 130
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stdout + second.stderr
    refused = second.stderr.strip()
    assert "\n" not in refused and refused.startswith(
        f"aimstudy run: error: {out} is in use by another aimstudy run (pid {first.pid} on host "
        f"{socket.gethostname()}, since "
    )
    assert refused.endswith("); wait for it to end or choose another --out")
    log = (tmp_path / "first.log").read_text()
    assert "1 trial(s) finished, 0 failed" in log
    assert "interrupted: 1 trial(s) unfinished; continue with" in log
    assert f"aimstudy run {study} --out {out} --resume --address {ray_session}" in log
    assert "Tuner.restore" not in log  # Tune's own hint is for its API, not for our users

    client = MlflowClient(runs.tracking_uri)
    killed = [r for r in child_runs(runs) if r.info.status != "FINISHED"]
    assert len(killed) == 1 and killed[0].info.status == "KILLED"
    reached = int(killed[0].data.tags[INTERRUPTED_TAG])
    assert 2 <= reached < EPOCHS
    assert STOPPED_BY_TAG not in killed[0].data.tags  # no scheduler stopped it
    assert client.get_run(runs.parent_run_id).info.status == "KILLED"

    resumed = subprocess.run(
        [sys.executable, "-m", "aimstudy.cli", "run", *args, "--resume"],
        capture_output=True,
        text=True,
        env={**os.environ, **TEST_ENV},
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "2 trial(s) finished, 0 failed" in resumed.stdout
    after = child_runs(runs)
    assert len(after) == 2 and {r.info.status for r in after} == {"FINISHED"}
    for run in after:
        epochs = int(run.data.params["epochs"])
        for key in ("epoch", "val/norm_mae"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == list(range(1, epochs + 1)), (key, steps)  # each epoch once
    by_trial = {r.data.tags[TRIAL_TAG]: r for r in after}
    assert by_trial[killed[0].data.tags[TRIAL_TAG]].data.tags["aimstudy.attempts"] == "2"
    assert client.get_run(runs.parent_run_id).info.status == "FINISHED"
    assert not (out / ".lock.owner").exists()
