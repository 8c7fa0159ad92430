"""Fixtures of the loopback cluster: PostgreSQL, an MLflow server on it, a two-node Ray cluster.

Module-scoped so the cluster tests share one set of services. Ray starts in a background thread
while PostgreSQL and MLflow start, which saves half a minute. Every service started is stopped in
a `finally`, also when a test or another service fails.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.services import MLflowServer, Postgres, RayCluster, postgres_bindir


@dataclass
class LoopbackCluster:
    """The three services of the loopback cluster, all on loopback addresses."""

    postgres: Postgres
    mlflow: MLflowServer
    ray: RayCluster


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """PostgreSQL + `cluster/mlflow/start-mlflow-server.sh` + a Ray head and a worker node."""
    try:
        postgres_bindir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    # Short folders under /tmp: unix socket paths (Ray's, PostgreSQL's) are limited to ~100 bytes.
    pg_root = Path(tempfile.mkdtemp(prefix="aimpg-"))
    ray_root = Path(tempfile.mkdtemp(prefix="aimray-"))
    cluster = LoopbackCluster(
        postgres=(pg := Postgres(root=pg_root)),
        mlflow=MLflowServer(root=tmp_path_factory.mktemp("mlflow"), postgres=pg),
        ray=RayCluster(temp_dir=ray_root),
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        ray_started = pool.submit(cluster.ray.start)
        try:
            cluster.postgres.start()
            cluster.mlflow.start()
            ray_started.result()
            yield cluster
        finally:
            ray_started.exception()  # wait for the thread before stopping what it started
            try:
                with ThreadPoolExecutor(max_workers=2) as stopper:  # ~5 s each, so together
                    stopping = [stopper.submit(s.stop) for s in (cluster.ray, cluster.mlflow)]
                for future in stopping:
                    future.result()
            finally:
                cluster.postgres.stop()  # after MLflow, whose connections it would wait for
            shutil.rmtree(pg_root, ignore_errors=True)
            shutil.rmtree(ray_root, ignore_errors=True)


@pytest.fixture(scope="module")
def loopback_postgres(loopback_cluster: LoopbackCluster) -> Postgres:
    """A PostgreSQL server on 127.0.0.1 with an `mlflow` database."""
    return loopback_cluster.postgres


@pytest.fixture(scope="module")
def loopback_mlflow(loopback_cluster: LoopbackCluster) -> MLflowServer:
    """The MLflow server on 127.0.0.1, backed by `loopback_postgres`."""
    return loopback_cluster.mlflow


@pytest.fixture(scope="module")
def loopback_ray(loopback_cluster: LoopbackCluster) -> RayCluster:
    """A Ray head and one worker node (1 CPU each) on a loopback address, token auth on."""
    return loopback_cluster.ray
