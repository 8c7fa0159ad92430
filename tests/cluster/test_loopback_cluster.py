"""The loopback cluster: a study through `--address` on two Ray nodes, tracked in PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import time
from contextlib import closing
from pathlib import Path

import psutil
import pytest

from tests.cluster.services import (
    CLUSTER_DIR,
    JOB_NAME,
    JOB_OVERRIDES,
    REPO_ROOT,
    VENV_BIN,
    MLflowServer,
    Postgres,
    RayCluster,
    job_submit_command,
    study_command,
)

STUDY = CLUSTER_DIR / "examples" / "loopback-study.yaml"
EPOCHS = 4  # train.epochs of STUDY
JOB_TIMEOUT_S = 240

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]


def _run_from_venv(command: list[str], ray: RayCluster, timeout: float) -> None:
    """Run a command of the project's venv against the loopback cluster; fail with its output."""
    command = [str(VENV_BIN / command[0]), *command[1:]]
    done = subprocess.run(
        command, env=ray.env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_mlflow_server_writes_to_postgres(
    loopback_mlflow: MLflowServer, loopback_postgres: Postgres
) -> None:
    """A run logged over HTTP lands in the PostgreSQL tables, its artifact in the destination."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=loopback_mlflow.uri)
    exp_id = client.create_experiment("smoke")
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "x", 1.5, step=3)
    client.log_text(run.info.run_id, "hello", "notes/hello.txt")
    client.set_terminated(run.info.run_id)
    with closing(loopback_postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_uuid, status FROM runs WHERE experiment_id = %s", (int(exp_id),))
        rows = cur.fetchall()
        cur.execute("SELECT value, step FROM metrics WHERE run_uuid = %s", (run.info.run_id,))
        metrics = cur.fetchall()
    assert rows == [(run.info.run_id, "FINISHED")]
    assert metrics == [(1.5, 3)]
    stored = list((loopback_mlflow.root / "artifacts").rglob("notes/hello.txt"))
    assert [f.read_text() for f in stored] == ["hello"]


def test_study_runs_across_both_nodes_into_postgres(
    loopback_ray: RayCluster,
    loopback_mlflow: MLflowServer,
    loopback_postgres: Postgres,
    tmp_path: Path,
) -> None:
    """`aimstudy run --address --tracking-uri`: one trial per node, every run in PostgreSQL."""
    from mlflow import MlflowClient

    out = tmp_path / "out"
    command = study_command(
        STUDY.relative_to(REPO_ROOT), loopback_ray.address, loopback_mlflow.uri, out,
        tmp_path / "cache",
    )  # fmt: skip
    _run_from_venv(command, loopback_ray, timeout=240)

    client = MlflowClient(tracking_uri=loopback_mlflow.uri)
    experiment = client.get_experiment_by_name("loopback-smoke")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if r.data.tags.get("aimstudy.role") == "trial"]
    assert len(trials) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    # Trials ran on both nodes: each run names its node, and the two nodes are the cluster's.
    nodes = {r.data.tags["aimstudy.node_id"] for r in trials}
    assert nodes == loopback_ray.node_ids()

    # Every run (the study's parent and both trials) is in the PostgreSQL store, with metrics.
    with closing(loopback_postgres.connect()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT run_uuid, status FROM runs WHERE experiment_id = %s",
            (int(experiment.experiment_id),),
        )
        in_pg = dict(cur.fetchall())
        cur.execute(
            "SELECT run_uuid, value FROM tags"
            " WHERE key = 'aimstudy.node_id' AND run_uuid = ANY(%s)",
            ([r.info.run_id for r in trials],),
        )
        pg_nodes = dict(cur.fetchall())
        cur.execute(
            "SELECT run_uuid, count(*) FROM metrics WHERE key = 'val/norm_mae' GROUP BY run_uuid"
        )
        val_metrics = dict(cur.fetchall())
    assert in_pg == {r.info.run_id: "FINISHED" for r in runs}
    assert pg_nodes == {r.info.run_id: r.data.tags["aimstudy.node_id"] for r in trials}
    assert all(val_metrics.get(r.info.run_id) == EPOCHS for r in trials)  # one per epoch

    # Artifacts went through the server into its artifact destination, not the nodes' disks.
    for trial in trials:
        names = {a.path for a in client.list_artifacts(trial.info.run_id)}
        assert "config.yaml" in names
    stored = list((loopback_mlflow.root / "artifacts").rglob("config.yaml"))
    assert len(stored) >= 2
    # Trial checkpoints reached the Tune storage path (here a folder both nodes share).
    checkpoints = list((out / "ray").glob("loopback-smoke-*/*/checkpoint_*"))
    assert len({c.parent for c in checkpoints}) == 2


def _listening(proc: subprocess.Popen) -> set[str]:
    """IP addresses the TCP listening sockets of `proc` and its descendants are bound to."""
    found = set()
    for member in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
        try:
            conns = member.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue  # a short-lived child (a PostgreSQL backend) that already exited
        found |= {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def test_postgres_and_mlflow_listen_on_loopback_only(
    loopback_postgres: Postgres, loopback_mlflow: MLflowServer
) -> None:
    """Safe default: both servers accept connections on 127.0.0.1 and nowhere else."""
    assert loopback_postgres.proc is not None and loopback_mlflow.proc is not None
    assert _listening(loopback_postgres.proc) == {"127.0.0.1"}
    assert _listening(loopback_mlflow.proc) == {"127.0.0.1"}


def test_ray_refuses_a_client_without_the_token(loopback_ray: RayCluster) -> None:
    """Token auth is on: with a wrong token `ray status` fails (the fixture's right one works)."""
    status = [str(VENV_BIN / "ray"), "status", "--address", loopback_ray.address]
    wrong = {**loopback_ray.env(), "RAY_AUTH_TOKEN": "0" * 64}
    refused = subprocess.run(status, env=wrong, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "Active:" not in refused.stdout
    assert loopback_ray.alive_nodes() == 2


def _job_status(ray: RayCluster, submission_id: str) -> str:
    """`ray job status`: the job's state word (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    done = subprocess.run(
        [str(VENV_BIN / "ray"), "job", "status", "--address", ray.dashboard_url, submission_id],
        env=ray.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    job = re.escape(submission_id)
    running = re.search(rf"Status for job '{job}': (\w+)", done.stdout)
    ended = re.search(rf"Job '{job}' (succeeded|failed|stopped)", done.stdout)
    if ended:
        return ended.group(1).upper()
    return running.group(1) if running else "UNKNOWN: " + done.stdout[-500:] + done.stderr[-500:]


def _job_logs(ray: RayCluster, submission_id: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "ray"), "job", "logs", "--address", ray.dashboard_url, submission_id],
        env=ray.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout[-3000:] + done.stderr[-1000:]


def test_ray_job_submit_runs_a_study_from_the_repository(
    loopback_ray: RayCluster, loopback_mlflow: MLflowServer, tmp_path: Path
) -> None:
    """`ray job submit --working-dir .` (token auth): the study's runs finish in MLflow."""
    from mlflow import MlflowClient

    name = JOB_NAME
    command = job_submit_command(
        loopback_ray.dashboard_url, STUDY.relative_to(REPO_ROOT), loopback_mlflow.uri,
        tmp_path / "out", [*JOB_OVERRIDES, f"dataset.cache_dir={tmp_path}/cache"],
        submission_id=name,
    )  # fmt: skip
    _run_from_venv(command, loopback_ray, timeout=120)

    deadline = time.monotonic() + JOB_TIMEOUT_S
    state = _job_status(loopback_ray, name)
    while state in ("PENDING", "RUNNING") and time.monotonic() < deadline:
        time.sleep(2)
        state = _job_status(loopback_ray, name)
    assert state == "SUCCEEDED", state + "\n" + _job_logs(loopback_ray, name)
    # The driver's output (the CLI's first line) is in the job's logs.
    logs = _job_logs(loopback_ray, name)
    assert f"study {name}: 1 trial(s)" in logs, logs

    client = MlflowClient(tracking_uri=loopback_mlflow.uri)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if r.data.tags.get("aimstudy.role") == "trial"]
    assert len(trials) == 1 and len(runs) == 2
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert trials[0].data.params["epochs"] == "2"
