"""A study on remote storage outlives its driver's machine: launch state and trial checkpoints
in an S3 bucket (moto's S3-compatible server on 127.0.0.1), MLflow artifacts in the same bucket
through a tracking server. The driver is killed mid-study, its folder deleted, and the study is
resumed from another folder and reported from the tracking URI alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aimstudy.tracking import TRIAL_TAG, StudyRuns, child_runs
from tests.tune.conftest import TEST_ENV, free_port, serve_mlflow, tiny_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "aimstudy-test"
STUDY = "storage-study"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server on a free port with one bucket; yields the environment that reaches it."""
    pytest.importorskip("moto", reason="moto[server] is a dev dependency")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        _wait_for(f"http://127.0.0.1:{port}", process, log)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/{BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()  # create the bucket
        yield env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"moto server did not answer: {log.read_text()[-2000:]}")


def _bucket_keys(env: dict[str, str], prefix: str) -> list[str]:
    from pyarrow import fs as pafs

    s3 = pafs.S3FileSystem(
        endpoint_override=env["AWS_ENDPOINT_URL"],
        access_key="test",
        secret_key="test",
        region="us-east-1",
        scheme="http",
    )
    infos = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    return [i.path.removeprefix(f"{BUCKET}/") for i in infos if i.type == pafs.FileType.File]


def _aimstudy(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aimstudy.cli", *args],
        cwd=cwd,
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env={**os.environ, **TEST_ENV, **env, "PYTHONPATH": str(Path(__file__).parents[2])},
        start_new_session=True,  # the driver and the local Ray it starts: killed together
    )


def test_a_study_on_s3_resumes_from_another_folder_and_reports_from_the_tracking_uri(
    s3_env: dict[str, str], data_cache: Path, tmp_path: Path
) -> None:
    with serve_mlflow(tmp_path, f"s3://{BUCKET}/mlartifacts", s3_env) as tracking:
        raw = tiny_raw(
            STUDY,
            data_cache,
            grid={"method": ["ls"], "n_train": [40], "seed": [0], "epochs": [2, 30]},
            tune={"max_concurrent": 1},
        )
        first_dir, second_dir, third_dir = (tmp_path / d for d in ("first", "second", "third"))
        for folder in (first_dir, second_dir, third_dir):
            folder.mkdir()
            (folder / "study.yaml").write_text(yaml.safe_dump(raw))
        storage = f"s3://{BUCKET}/studies"
        args = ["run", "study.yaml", "--storage", storage, "--tracking-uri", tracking]

        first = _aimstudy([*args, "--out", "out"], first_dir, s3_env, tmp_path / "first.log")
        runs = _wait_for_second_trial(first, tracking, tmp_path / "first.log")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        shutil.rmtree(first_dir)  # the first driver's machine is gone

        second = _aimstudy(
            [*args, "--out", "out", "--resume"], second_dir, s3_env, tmp_path / "second.log"
        )
        assert second.wait(timeout=400) == 0, (tmp_path / "second.log").read_text()[-3000:]
        assert "2 trial(s) finished, 0 failed" in (tmp_path / "second.log").read_text()

        client = MlflowClient(tracking)
        trials = child_runs(runs)
        assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
        assert len({r.data.tags[TRIAL_TAG] for r in trials}) == 2
        keys = _bucket_keys(s3_env, "")
        for run in trials:
            # mlflow-artifacts:/<experiment>/<run>/artifacts, served from s3://BUCKET/mlartifacts
            prefix = "mlartifacts/" + run.info.artifact_uri.split(":", 1)[1].lstrip("/")
            assert f"{prefix}/checkpoint/best.pt" in keys, run.info.artifact_uri
            assert f"{prefix}/policy/policy.parquet" in keys
            epochs = int(run.data.params["epochs"])
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "epoch")]
            assert sorted(steps) == list(range(1, epochs + 1))
        assert f"studies/{STUDY}/study.json" in keys
        assert any(k.startswith(f"studies/{STUDY}/ray/{STUDY}-") for k in keys)  # Tune's state

        report = _aimstudy(
            ["report", "study.yaml", "--tracking-uri", tracking, "--out", "report", "--no-log"],
            third_dir,
            s3_env,
            tmp_path / "report.log",
        )
        assert report.wait(timeout=300) == 0, (tmp_path / "report.log").read_text()[-3000:]
        assert (third_dir / "report" / "report.md").is_file()


def _wait_for_second_trial(process: subprocess.Popen, tracking: str, log: Path) -> StudyRuns:
    """Until the short trial is FINISHED and the long one has logged an epoch."""
    client = MlflowClient(tracking)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"driver ended before the kill: {log.read_text()[-3000:]}")
        experiment = client.get_experiment_by_name(STUDY)
        if experiment is not None:
            parents = client.search_runs(
                [experiment.experiment_id], "tags.`aimstudy.role` = 'study'"
            )
            if parents:
                runs = StudyRuns(tracking, experiment.experiment_id, parents[0].info.run_id)
                found = child_runs(runs)
                if any(r.info.status == "FINISHED" for r in found) and any(
                    r.info.status == "RUNNING" and r.data.metrics for r in found
                ):
                    return runs
        time.sleep(0.5)
    raise AssertionError(f"no progress to kill: {log.read_text()[-3000:]}")
