"""cluster/: every config parses, names the pinned Ray and its real images, keeps safe defaults.

Nothing here starts a service: the launcher YAML is validated against Ray's own schema, commands
against aimstudy's own CLI parser, the MLflow launcher runs with `echo` in place of `mlflow`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.services import (
    CLUSTER_DIR,
    JOB_NAME,
    JOB_OVERRIDES,
    REPO_ROOT,
    MLflowServer,
    Postgres,
    RayCluster,
    job_submit_command,
    study_command,
)

RAY_VERSION = "2.60.0"
IMAGE = re.compile(r"^rayproject/ray:2\.60\.0-py311(-gpu)?$")
YAML_FILES = sorted([*CLUSTER_DIR.rglob("*.yaml"), *CLUSTER_DIR.rglob("*.yml")])
SHELL_FILES = [
    CLUSTER_DIR / "ci-install.sh",
    CLUSTER_DIR / "mlflow" / "start-mlflow-server.sh",
    CLUSTER_DIR / "slurm" / "aimstudy-ray.sbatch",
]


def _docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _find(tree: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere in a parsed YAML tree."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(tree, list):
        for item in tree:
            found.extend(_find(item, key))
    return found


def _kind(kind: str) -> dict[str, Any]:
    docs = [
        d for p in YAML_FILES for d in _docs(p) if isinstance(d, dict) and d.get("kind") == kind
    ]
    assert len(docs) == 1, f"expected one {kind} manifest, found {len(docs)}"
    return docs[0]


def _pyproject_deps() -> list[str]:
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if not re.match(r"ray\b", d)]


def test_every_yaml_parses() -> None:
    assert len(YAML_FILES) >= 5
    for path in YAML_FILES:
        assert _docs(path), f"{path} is empty"


def test_images_and_ray_version_are_the_pinned_ones() -> None:
    import ray
    from packaging.requirements import Requirement

    assert ray.__version__ == RAY_VERSION
    pins = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ray_pin = next(Requirement(d) for d in pins if re.match(r"ray\b", d))
    assert ray_pin.specifier.contains(RAY_VERSION)
    images = [img for p in YAML_FILES for d in _docs(p) for img in _find(d, "image")]
    assert len(images) >= 5
    assert all(isinstance(i, str) and IMAGE.match(i) for i in images), images
    assert {v for p in YAML_FILES for d in _docs(p) for v in _find(d, "rayVersion")} == {
        RAY_VERSION
    }


def test_cluster_launcher_yaml_matches_rays_schema_and_safe_defaults() -> None:
    import jsonschema
    import ray

    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    config = yaml.safe_load((CLUSTER_DIR / "aws" / "ray-cluster.yaml").read_text())
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    assert config["provider"]["type"] == "aws"
    gpu = [t for t in config["available_node_types"].values() if t.get("max_workers", 0) > 0]
    assert gpu and gpu[0]["node_config"]["InstanceType"].startswith(("g", "p"))
    assert "RAY_AUTH_MODE=token" in " ".join(config["docker"]["run_options"])
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert any("pip install" in c and "~/aimstudy" in c for c in config["setup_commands"])
    assert f"ray[default,tune]=={RAY_VERSION}" in " ".join(config["setup_commands"])


def test_kuberay_manifests_use_token_auth_and_a_loopback_dashboard() -> None:
    cluster, job = _kind("RayCluster"), _kind("RayJob")
    for manifest in (cluster, job):
        assert manifest["apiVersion"] == "ray.io/v1"
        spec = manifest["spec"].get("rayClusterSpec", manifest["spec"])
        assert spec["authOptions"] == {"mode": "token"}
        head = spec["headGroupSpec"]
        assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
        assert head.get("serviceType", "ClusterIP") == "ClusterIP"
        assert spec["enableInTreeAutoscaling"] is True
        gpu_limits = _find(spec["workerGroupSpecs"], "nvidia.com/gpu")
        assert gpu_limits and all(n >= 1 for n in gpu_limits)
    assert job["spec"]["submissionMode"] == "SidecarMode"
    head_pod = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert head_pod["restartPolicy"] == "Never"  # SidecarMode requires it
    assert not [d for p in YAML_FILES for d in _docs(p) if d.get("kind") in ("Ingress", "Service")]


def test_runtime_env_lists_the_project_dependencies() -> None:
    """runtime-env.yaml and the RayJob's runtimeEnvYAML both install pyproject's dependencies."""
    standalone = yaml.safe_load((CLUSTER_DIR / "kuberay" / "runtime-env.yaml").read_text())
    inline = yaml.safe_load(_kind("RayJob")["spec"]["runtimeEnvYAML"])
    assert standalone["pip"]["packages"] == _pyproject_deps()
    assert inline["pip"] == standalone["pip"]
    assert inline["working_dir"].endswith(".zip")


def _parse_run(argv: list[str]) -> Any:
    """Parse an `aimstudy run ...` command line with aimstudy's own parser."""
    from aimstudy.cli import build_parser

    assert argv[0] == "run", argv
    return build_parser().parse_args(argv)


def test_commands_name_real_subcommands_options_and_studies() -> None:
    job = _kind("RayJob")["spec"]["entrypoint"]
    words = shlex.split(job)
    assert words[:3] == ["python", "-m", "aimstudy.cli"]
    args = _parse_run(words[3:])
    assert args.address == "auto" and args.out.is_absolute()
    assert (REPO_ROOT / args.study).is_file()
    # The submitter's shell expands the entrypoint without the head's env: no $VARIABLES.
    assert "$" not in job
    assert args.storage.startswith("s3://") and args.tracking_uri.startswith("http://")
    readme = _readme()
    for line in re.findall(r"aimstudy(?:\.cli)? run (\S+/\S+\.yaml)", readme):
        assert (REPO_ROOT / line).is_file(), line
    slurm = (CLUSTER_DIR / "slurm" / "aimstudy-ray.sbatch").read_text()
    call = re.search(r"^aimstudy run (.*?)\|\|", slurm.replace("\\\n", " "), re.M)
    assert call is not None
    args = _parse_run(["run", *shlex.split(call.group(1).replace('"$@"', ""))])
    assert args.address == "$head_ip:$port"
    assert args.storage == "$storage" and args.tracking_uri == "$MLFLOW_TRACKING_URI"


def _section(title: str) -> str:
    """The README section whose heading starts with `title`, continuations joined."""
    sections = re.split(r"^## ", _readme(), flags=re.M)
    found = [part for part in sections if part.startswith(title)]
    assert len(found) == 1, title
    return found[0]


@pytest.mark.parametrize("title", ["AWS with the Ray cluster launcher", "Kubernetes with KubeRay"])
def test_each_cloud_platforms_readme_command_passes_an_object_store_and_a_tracking_server(
    title: str,
) -> None:
    """Nodes on AWS and KubeRay share no disk: the one command per platform names the bucket."""
    calls = re.findall(r"python -m aimstudy\.cli (run .*)", _section(title))
    assert calls, title
    for call in calls:
        args = _parse_run(shlex.split(call))
        assert args.storage.startswith("s3://"), call
        assert args.tracking_uri.startswith(("http://", "https://")), call
        assert args.address == "auto" and args.out.is_absolute()
    # The RayJob paragraph shows the manifest's own entrypoint.
    if title.startswith("Kubernetes"):
        assert _kind("RayJob")["spec"]["entrypoint"] in _section(title)


def test_aws_workers_reach_the_bucket_through_an_instance_profile() -> None:
    config = yaml.safe_load((CLUSTER_DIR / "aws" / "ray-cluster.yaml").read_text())
    profile = config["available_node_types"]["gpu_worker"]["node_config"]["IamInstanceProfile"]
    assert re.match(r"arn:aws:iam::[\w-]+:instance-profile/\S+$", profile["Arn"])
    options = " ".join(config["docker"]["run_options"])
    assert "AWS_ACCESS_KEY_ID" not in options and "AWS_SECRET_ACCESS_KEY" not in options


def test_every_kuberay_container_gets_the_storage_credentials_from_a_secret() -> None:
    """Each node writes its own trials' checkpoints, so head and workers alike need the keys."""
    for kind in ("RayCluster", "RayJob"):
        manifest = _kind(kind)
        spec = manifest["spec"].get("rayClusterSpec", manifest["spec"])
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        containers = [c for g in groups for c in g["template"]["spec"]["containers"]]
        assert len(containers) >= 2
        for container in containers:
            env = {e["name"]: e for e in container["env"]}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
                assert "value" not in env[key], (kind, key)
                assert env[key]["valueFrom"]["secretKeyRef"] == {
                    "name": "aimstudy-storage", "key": key, "optional": True
                }, (kind, key)  # fmt: skip
    assert not _find(_kind("RayJob"), "persistentVolumeClaim")  # the RayJob shares no disk


SLURM = CLUSTER_DIR / "slurm" / "aimstudy-ray.sbatch"
# Stand-ins for Slurm, Ray and aimstudy: `srun` runs its command, `ray status` reports one
# node, `ray start` waits to be killed, `aimstudy` writes its arguments to a file.
SLURM_STUBS = {
    "scontrol": "echo node1",
    "hostname": "echo 10.0.0.1",
    "srun": 'while [[ $# -gt 0 && $1 == -* ]]; do [[ $1 == -w ]] && shift; shift; done; exec "$@"',
    "ray": (
        'case $1 in status) printf "Active:\\n 1 node_0123\\nPending:\\n";; '
        "start) exec sleep 30;; esac"
    ),
    "aimstudy": 'printf "%s\\n" "$@" > "$AIMSTUDY_ARGS"',
}


def _sbatch(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the Slurm script with stub commands; returns it and aimstudy's arguments.

    It runs in a folder under /tmp (which the script would refuse as storage), so Slurm's submit
    dir is named elsewhere: the script only passes the storage on, never opens it."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    for name, body in SLURM_STUBS.items():
        (venv_bin / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (venv_bin / name).chmod(0o755)
    if not (venv_bin / "python").exists():
        (venv_bin / "python").symlink_to(sys.executable)
    submit = tmp_path / "submit"
    submit.mkdir(exist_ok=True)
    args_file = tmp_path / "aimstudy-args"
    base = {
        "PATH": os.environ["PATH"],
        "AIMSTUDY_VENV": str(tmp_path / "venv"),
        "AIMSTUDY_ARGS": str(args_file),
        "MLFLOW_TRACKING_URI": "https://mlflow.example.org",
        "SLURM_SUBMIT_DIR": "/shared/submit",
        "SLURM_JOB_ID": "42",
        "SLURM_JOB_NODELIST": "node1",
        "SLURM_CPUS_PER_TASK": "2",
        "TMPDIR": str(tmp_path / "scratch"),
    }
    done = subprocess.run(
        ["bash", str(SLURM), "studies/qm9-data-efficiency.yaml", "--resume"],
        cwd=submit, env={k: v for k, v in {**base, **env}.items() if v}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    return done, args_file.read_text().splitlines() if args_file.exists() else []


@pytest.mark.parametrize(
    ("storage", "expected"),
    [("", "/shared/submit/results"), ("/shared/aimstudy", None), ("s3://bucket/aimstudy", None)],
)
def test_slurm_script_passes_the_storage_and_tracking_uri_to_aimstudy_run(
    storage: str, expected: str | None, tmp_path: Path
) -> None:
    done, argv = _sbatch(tmp_path, AIMSTUDY_STORAGE=storage)
    assert done.returncode == 0, done.stderr
    args = _parse_run(argv)
    assert args.storage == (expected or storage)
    assert args.tracking_uri == "https://mlflow.example.org"
    assert args.address == "10.0.0.1:6379" and args.resume
    assert args.out == tmp_path / "submit" / "results" / "qm9-data-efficiency"


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"SLURM_SUBMIT_DIR": ""}, 1, "export AIMSTUDY_STORAGE (a folder every node mounts"),
        ({"AIMSTUDY_STORAGE": "/tmp/aimstudy"}, 2, "is node-local scratch"),
        ({"AIMSTUDY_STORAGE": "{tmp}/scratch/aimstudy"}, 2, "is node-local scratch"),
        ({"MLFLOW_TRACKING_URI": ""}, 1, "export MLFLOW_TRACKING_URI"),
    ],
)
def test_slurm_script_refuses_no_storage_or_node_local_scratch_before_ray_starts(
    env: dict[str, str], code: int, message: str, tmp_path: Path
) -> None:
    done, argv = _sbatch(tmp_path, **{k: v.format(tmp=tmp_path) for k, v in env.items()})
    assert done.returncode == code
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert argv == [] and "head:" not in done.stdout  # neither Ray nor the study started


def test_shell_scripts_parse_and_slurm_keeps_ray_private() -> None:
    for path in SHELL_FILES:
        subprocess.run(["bash", "-n", str(path)], check=True)
    slurm = (CLUSTER_DIR / "slurm" / "aimstudy-ray.sbatch").read_text()
    assert "--dashboard-host=127.0.0.1" in slurm
    assert "export RAY_AUTH_MODE=token" in slurm


def _launcher(**env: str) -> subprocess.CompletedProcess[str]:
    """Run the MLflow launcher with `echo` as mlflow: prints the arguments it would use."""
    base = {"PATH": os.environ["PATH"], "MLFLOW_BIN": "echo"}
    return subprocess.run(
        ["bash", str(CLUSTER_DIR / "mlflow" / "start-mlflow-server.sh")],
        env={**base, **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_mlflow_launcher_defaults_to_loopback_and_keeps_passwords_out_of_the_uri() -> None:
    done = _launcher(MLFLOW_ARTIFACTS_DESTINATION="s3://bucket/mlflow", PGPASSWORD="s3cret")
    assert done.returncode == 0, done.stderr
    args = done.stdout.split()
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert args[args.index("--backend-store-uri") + 1] == (
        "postgresql+psycopg2://mlflow@127.0.0.1:5432/mlflow"
    )
    assert "--serve-artifacts" in args
    assert args[args.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"
    assert "s3cret" not in done.stdout


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5"])
def test_mlflow_launcher_refuses_a_public_address_without_auth(host: str) -> None:
    done = _launcher(MLFLOW_ARTIFACTS_DESTINATION="s3://b/m", MLFLOW_HOST=host)
    assert done.returncode == 2
    assert "refusing to bind" in done.stderr and done.stdout == ""
    allowed = _launcher(
        MLFLOW_ARTIFACTS_DESTINATION="s3://b/m", MLFLOW_HOST=host, MLFLOW_AUTH="basic"
    )
    assert allowed.returncode == 0
    assert "--app-name basic-auth" in allowed.stdout


def test_mlflow_launcher_needs_an_artifact_destination() -> None:
    done = _launcher()
    assert done.returncode != 0
    assert "MLFLOW_ARTIFACTS_DESTINATION" in done.stderr


def test_no_credentials_in_cluster_files() -> None:
    secret = re.compile(
        r"(PASSWORD|TOKEN|SECRET|ACCESS_KEY)[A-Z_]*\s*[:=]\s*['\"]?[A-Za-z0-9+/_\-]{8,}"
    )
    for path in CLUSTER_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"AKIA[0-9A-Z]{16}|BEGIN [A-Z ]*PRIVATE KEY", text), path
            hits = [m.group(0) for m in secret.finditer(text)]
            assert not [h for h in hits if not re.search(r"=\s*\.\.\.|\$", h)], (path, hits)
    assert "0.0.0.0" not in "".join(p.read_text() for p in YAML_FILES)


def _readme() -> str:
    """cluster/README.md with shell line continuations joined."""
    return re.sub(r"\\\n\s*", "", (CLUSTER_DIR / "README.md").read_text())


def test_readme_shows_the_commands_the_loopback_test_runs() -> None:
    readme = _readme()
    pg = Postgres(root=Path("$PGROOT"), port="$PG_PORT")  # type: ignore[arg-type]
    ray_cluster = RayCluster(
        temp_dir=Path("$RAY_TMP"),
        port="$RAY_PORT",  # type: ignore[arg-type]
        dashboard_port="$DASHBOARD_PORT",  # type: ignore[arg-type]
        agent_ports=("$AGENT_PORT", "$WORKER_AGENT_PORT"),  # type: ignore[arg-type]
    )
    commands = [
        pg.initdb_command(),
        pg.server_command(),
        ray_cluster.head_command(),
        ray_cluster.worker_command(),
        study_command(
            "cluster/examples/loopback-study.yaml",
            "127.0.0.2:$RAY_PORT",
            "http://127.0.0.1:$MLFLOW_PORT",
            "$OUT",
            "$OUT/cache",
        ),
    ]
    job = job_submit_command(
        "http://127.0.0.1:$DASHBOARD_PORT", "cluster/examples/loopback-study.yaml",
        "http://127.0.0.1:$MLFLOW_PORT", "$OUT/job",
        [*JOB_OVERRIDES, "dataset.cache_dir=$OUT/cache"], submission_id=JOB_NAME,
    )  # fmt: skip
    # JSON and YAML lists are quoted for the shell; `$VARIABLES` are not (they must expand).
    commands.append([shlex.quote(w) if any(c in w for c in "{[ ") else w for w in job])
    for command in commands:
        assert " ".join(command) in readme, " ".join(command)
    for verb in ("status", "logs"):
        assert f"ray job {verb} --address http://127.0.0.1:$DASHBOARD_PORT {JOB_NAME}" in readme
    server = MLflowServer(root=Path("/srv/mlflow"), postgres=Postgres(root=Path("/srv/pg")))
    shown = [k for k in server.env() if k.startswith("MLFLOW_") and k not in os.environ]
    assert len(shown) >= 8
    assert all(f"{k}=" in readme for k in shown), shown
    assert "bash cluster/mlflow/start-mlflow-server.sh" in readme
    assert "RAY_AUTH_MODE=token" in readme
