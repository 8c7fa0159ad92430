"""Shared fixtures of the study-platform tests: one Ray session, tiny specs, a data cache."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aimstudy.tune import StudyOutcome, run_study, validate_spec
from tests.tune._faults import Faults

REPO = Path(__file__).resolve().parents[2]
TEST_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "OMP_NUM_THREADS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Ray's memory monitor kills workers when the *machine* is nearly full, which on a shared
    # CI box means other jobs' memory fails these tiny trials; the kernel's OOM killer remains.
    "RAY_memory_monitor_refresh_ms": "0",
}
for _key, _value in TEST_ENV.items():  # before any test module imports Ray
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One featurization cache for every tiny study of the session."""
    return tmp_path_factory.mktemp("data-cache")


def tiny_raw(name: str, cache: Path, **changes: Any) -> dict[str, Any]:
    """A study of a few dozen QM9 molecules, GIN of width 16, a few epochs: seconds per trial."""
    raw: dict[str, Any] = {
        "name": name,
        "dataset": {
            "name": "qm9",
            "tasks": "nashmtl11",
            "featurizer": "2d",
            "limit": 80,
            "val_size": 12,
            "test_size": 12,
            "cache_dir": str(cache),
        },
        "train": {
            "model": "gin",
            "model_options": {"hidden": 16, "layers": 1},
            "epochs": 3,
            "batch_size": 16,
            "eval_batch_size": 64,
            "patience": None,
            "diagnose_every": 1,
        },
        "grid": {"method": ["ls", "aim-matrix"], "n_train": [40], "seed": [0]},
        "resources": {"cpu": 1, "gpu": 0},
        "failure": {"max_failures": 1},
        "tracking": {"heatmap_epochs": [1]},
    }
    for key, value in changes.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    return raw


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    """One local Ray (2 CPUs, capped object store) for every study test; yields its address."""
    import ray

    ray.init(
        num_cpus=2,
        object_store_memory=int(1e9),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), **TEST_ENV}},
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def server_study(
    ray_session: str, mlflow_server: str, data_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[StudyOutcome, Path]:
    """ls finishes, aim-matrix crashes once in epoch 2 before its checkpoint, pcgrad always
    crashes (1 retry).

    Tracked on an `mlflow server`; the browser test reuses it."""
    out = tmp_path_factory.mktemp("server-study")
    spec = validate_spec(
        tiny_raw("server-study", data_cache, grid={"method": ["ls", "pcgrad", "aim-matrix"]})
    )
    faults = Faults(out, once={}, always={"pcgrad"}, before_checkpoint={"aim-matrix": 2})
    outcome = run_study(spec, out / "study", tracking_uri=mlflow_server, extra_callbacks=[faults])
    return outcome, out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An `mlflow server` on 127.0.0.1 (SQLite backend, served artifacts); yields its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with serve_mlflow(root, str(root / "artifacts")) as url:
        yield url


@contextmanager
def serve_mlflow(root: Path, artifacts: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """An `mlflow server` on a free port of 127.0.0.1, SQLite in `root`, artifacts served to
    `artifacts` (a folder or a bucket URI; `env` for its credentials); yields its URL."""
    port = free_port()
    env = {**os.environ, **TEST_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    mlflow = Path(sys.executable).with_name("mlflow")
    process = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root}/server.db",
            "--artifacts-destination",
            artifacts,
        ],  # fmt: skip
        cwd=root,
        env=env,
        stdout=open(root / "server.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, root / "server.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} not healthy after {timeout_s} s")
