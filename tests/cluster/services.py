"""Start and stop the loopback cluster's services: PostgreSQL, an MLflow server, Ray nodes.

Each service runs in the foreground of a process this module starts (in its own session), so
stopping it means signalling exactly the processes started here: never `ray stop` or a kill by
name, which would hit other Ray sessions and databases on a shared machine.
The commands are the ones cluster/README.md shows in "Try it on one machine".
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "cluster"
VENV_BIN = Path(sys.executable).parent
# Ray rewrites 127.0.0.1 to the host's address on a multi-node cluster and refuses a second node
# when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0; another loopback address keeps traffic on `lo`.
RAY_NODE_IP = "127.0.0.2"
LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on `host` right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll `check()` until true; fail naming `what` on timeout or if `proc` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with code {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.create_connection((host, port), timeout=1):
        return True


def spawn(command: list, log: Path, **options) -> subprocess.Popen:
    """Start `command` in its own session, stdout and stderr into `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
        )


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal a process started here, wait; SIGKILL it and any descendant still alive after.

    Only the parent is signalled: `ray start --block` and the postmaster stop their own children
    (signalling Ray's children directly makes its parent wait 30 s).
    """
    if proc.poll() is not None:
        return
    try:
        members = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        members = []
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    _, alive = psutil.wait_procs(members, timeout=5)
    for child in alive:
        child.kill()


@dataclass
class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1 with one database and a password role."""

    root: Path
    port: int = field(default_factory=free_port)
    user: str = "mlflow"
    database: str = "mlflow"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    proc: subprocess.Popen | None = None

    def initdb_command(self, bindir: Path = Path()) -> list[str]:
        """Create the cluster: `mlflow` superuser, password from a file, passwords required."""
        return [
            str(bindir / "initdb"), "-D", f"{self.root}/data", "-U", self.user,
            f"--pwfile={self.root}/pwfile", "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256", "-E", "UTF8", "--no-instructions",
        ]  # fmt: skip

    def server_command(self, bindir: Path = Path()) -> list[str]:
        """The server in the foreground: TCP on 127.0.0.1 only, its socket in our folder."""
        return [
            str(bindir / "postgres"), "-D", f"{self.root}/data", "-p", str(self.port),
            "-h", LOOPBACK, "-k", f"{self.root}/sockets",
        ]  # fmt: skip

    def start(self) -> None:
        """initdb, then run `postgres` in the foreground bound to 127.0.0.1 only."""
        bindir = postgres_bindir()
        run_as = _postgres_user()
        sockets, pwfile = self.root / "sockets", self.root / "pwfile"
        sockets.mkdir(parents=True)
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if run_as is not None:
            for path in (self.root, sockets, pwfile):
                shutil.chown(path, run_as, run_as)
        done = subprocess.run(
            self.initdb_command(bindir), user=run_as, capture_output=True, text=True,
            cwd=self.root,
        )  # fmt: skip
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        self.proc = spawn(
            self.server_command(bindir), self.root / "postgres.log", user=run_as, cwd=self.root
        )
        wait_for(self._accepts, 60, "postgres", self.proc)
        self._create_database()

    def connect(self, database: str | None = None):
        """A psycopg2 connection to the server (autocommit)."""
        import psycopg2

        conn = psycopg2.connect(
            host=LOOPBACK, port=self.port, user=self.user, password=self.password,
            dbname=database or self.database, connect_timeout=3,
        )  # fmt: skip
        conn.autocommit = True
        return conn

    def _accepts(self) -> bool:
        import psycopg2

        try:
            self.connect("postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    def _create_database(self) -> None:
        conn = self.connect("postgres")
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.database}"')
        conn.close()

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, then exit)."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT)


def postgres_bindir() -> Path:
    """The folder with initdb and postgres: PATH first, then Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise FileNotFoundError("PostgreSQL not installed: run `bash cluster/ci-install.sh`")
    return Path(candidates[-1]).parent


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as the `postgres` account when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise FileNotFoundError("running as root but no `postgres` account exists") from exc
    return "postgres"


@dataclass
class MLflowServer:
    """`cluster/mlflow/start-mlflow-server.sh` against a Postgres, artifacts in a folder."""

    root: Path
    postgres: Postgres
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """The server's environment: the variables of cluster/mlflow/mlflow-server.env.example."""
        return {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_PG_HOST": LOOPBACK,
            "MLFLOW_PG_PORT": str(self.postgres.port),
            "MLFLOW_PG_DATABASE": self.postgres.database,
            "MLFLOW_PG_USER": self.postgres.user,
            "PGPASSWORD": self.postgres.password,
            "MLFLOW_ARTIFACTS_DESTINATION": (self.root / "artifacts").as_uri(),
            "MLFLOW_HOST": LOOPBACK,
            "MLFLOW_PORT": str(self.port),
            "MLFLOW_WORKERS": "1",
        }

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(
            ["bash", CLUSTER_DIR / "mlflow" / "start-mlflow-server.sh"],
            self.root / "mlflow.log",
            env=self.env(),
            cwd=self.root,
        )
        wait_for(self._healthy, 120, "mlflow server", self.proc)

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def study_command(
    study: Path | str, address: str, tracking_uri: str, out: Path | str, cache: Path | str
) -> list[str]:
    """`aimstudy run` against the cluster and the tracking server (README: step 4)."""
    return [
        "aimstudy", "run", str(study), "--address", address, "--tracking-uri", tracking_uri,
        "--out", str(out), "--set", f"dataset.cache_dir={cache}",
    ]  # fmt: skip


# What `ray job submit --working-dir` leaves out of the upload: the venv (every node has its own),
# results, git history and bytecode; the rest of the repository is a few hundred KB.
JOB_EXCLUDES = [".venv", "results", ".git", "**/__pycache__"]
# The submitted study: the loopback study renamed, one trial of two epochs (CI time).
JOB_NAME = "loopback-job"
JOB_OVERRIDES = [f"name={JOB_NAME}", "grid.seed=[0]", "train.epochs=2"]


def job_submit_command(
    dashboard: str,
    study: Path | str,
    tracking_uri: str,
    out: Path | str,
    overrides: list[str],
    submission_id: str,
) -> list[str]:
    """`ray job submit` of a study, the repository root as working dir (README: step 5).

    Run it from the repository root (`--working-dir .`).

    The entrypoint runs on the head in the uploaded copy of the repository, so `python -m
    aimstudy.cli` imports that copy first (`-m` puts the working directory on sys.path) and the
    trials' workers get it through the job's runtime environment (Ray adds it to PYTHONPATH).
    """
    runtime_env = json.dumps({"excludes": JOB_EXCLUDES})
    sets = [word for item in overrides for word in ("--set", item)]
    return [
        "ray", "job", "submit", "--address", dashboard, "--submission-id", submission_id,
        "--working-dir", ".", "--runtime-env-json", runtime_env, "--no-wait", "--",
        "python", "-m", "aimstudy.cli", "run", str(study), "--address", "auto",
        "--tracking-uri", tracking_uri, "--out", str(out), *sets,
    ]  # fmt: skip


@dataclass
class RayCluster:
    """A Ray head and a worker node, each a `ray start --block` process, on loopback."""

    temp_dir: Path
    cpus_per_node: int = 1
    object_store_bytes: int = 300 * 1024**2
    port: int = field(default_factory=lambda: free_port(RAY_NODE_IP))
    dashboard_port: int = field(default_factory=free_port)
    # Each node's dashboard agent on a free port: Ray's default (52365) is taken by any other
    # local Ray on the machine, and then the head has no job agent ("No available agent").
    agent_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{RAY_NODE_IP}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """The dashboard's HTTP address: the job-submission API, on loopback."""
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def env(self) -> dict[str, str]:
        """Environment of every Ray process and driver: token auth on, telemetry off."""
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
        }
        env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        env.pop("RAY_ADDRESS", None)
        return env

    def head_command(self) -> list[str]:
        return [
            "ray", "start", "--head", "--node-ip-address", RAY_NODE_IP,
            "--port", str(self.port), "--dashboard-host", LOOPBACK,
            "--dashboard-port", str(self.dashboard_port),
            "--dashboard-agent-listen-port", str(self.agent_ports[0]),
            "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0",
            "--object-store-memory", str(self.object_store_bytes),
            "--temp-dir", str(self.temp_dir), "--disable-usage-stats", "--block",
        ]  # fmt: skip

    def worker_command(self) -> list[str]:
        """The second node, in its own temp dir: with the head's, both nodes would unpack a job's
        working dir into the same folder, and the worker's unpacking would delete the folder the
        job's driver runs in (its cwd) under it."""
        return [
            "ray", "start", "--address", self.address, "--node-ip-address", RAY_NODE_IP,
            "--dashboard-agent-listen-port", str(self.agent_ports[1]),
            "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0",
            "--object-store-memory", str(self.object_store_bytes),
            "--temp-dir", f"{self.temp_dir}/worker", "--disable-usage-stats", "--block",
        ]  # fmt: skip

    def start(self) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._launch(self.head_command(), "head")
        wait_for(lambda: port_open(RAY_NODE_IP, self.port), 90, "ray head", self.procs[0])
        self._launch(self.worker_command(), "worker")
        wait_for(lambda: self.alive_nodes() >= 2, 90, "ray worker node", self.procs[1])

    def _launch(self, command: list[str], name: str) -> None:
        command = [str(VENV_BIN / command[0]), *command[1:]]
        self.procs.append(spawn(command, self.temp_dir / f"{name}.log", env=self.env()))

    def alive_nodes(self) -> int:
        """Number of active nodes, as `ray status` (which talks to the GCS) reports them."""
        out = subprocess.run(
            [str(VENV_BIN / "ray"), "status", "--address", self.address],
            env=self.env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if out.returncode != 0 or "Active:" not in out.stdout:
            return 0
        active = out.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
        return sum(1 for word in active.split() if word.startswith("node_"))

    def node_ids(self) -> set[str]:
        """Hex ids of the active nodes (as `ray.get_runtime_context().get_node_id()` gives)."""
        out = subprocess.run(
            [str(VENV_BIN / "ray"), "status", "--address", self.address],
            env=self.env(), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        active = out.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
        return {word[len("node_") :] for word in active.split() if word.startswith("node_")}

    def stop(self) -> None:
        """Stop the worker, then the head; then anything left that names our temp dir."""
        for proc in reversed(self.procs):
            stop_process(proc)
        leftovers = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if str(self.temp_dir) in " ".join(proc.info["cmdline"] or []):
                    leftovers.append(proc)
            except psutil.Error:
                continue
        for proc in leftovers:
            proc.kill()
