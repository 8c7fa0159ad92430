"""What produced a run: versions, commit, device; the study's description on its launch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import aimstudy
from aimstudy.tracking import (
    DESCRIPTION_TAG,
    DEVICE_TAG,
    GIT_COMMIT_TAG,
    VERSION_TAG,
    VERSIONS_PREFIX,
    default_tracking_uri,
    git_commit,
    log_launch,
    open_experiment,
    provenance_tags,
    start_parent_run,
)

PACKAGE = Path(aimstudy.__file__).resolve().parent


def test_tags_name_versions_and_the_device() -> None:
    tags = provenance_tags("cpu")
    assert tags[VERSION_TAG] == aimstudy.__version__ and tags[DEVICE_TAG] == "cpu"
    for library in ("torch", "torch_geometric", "rdkit", "torchjd", "ray", "mlflow"):
        assert tags[VERSIONS_PREFIX + library]
    assert DEVICE_TAG not in provenance_tags()


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(PACKAGE), *args], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="no git on this machine")
def test_git_commit_only_from_a_checkout_of_the_package(tmp_path: Path) -> None:
    top = _git("rev-parse", "--show-toplevel")
    own = top.returncode == 0 and Path(top.stdout.strip()).resolve() == PACKAGE.parent
    expected = _git("rev-parse", "HEAD").stdout.strip() if own else None
    assert git_commit() == expected
    assert (GIT_COMMIT_TAG in provenance_tags()) == own
    # a package folder that is no checkout, or sits inside one that is not its own: no commit
    assert git_commit(tmp_path / "aimstudy") is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "venv" / "aimstudy").mkdir(parents=True)
    assert git_commit(tmp_path / "venv" / "aimstudy") is None


@pytest.mark.parametrize("description", ["QM9 data efficiency of AIM vs baselines", ""])
def test_launch_has_the_description_and_provenance(tmp_path: Path, description: str) -> None:
    uri = default_tracking_uri(tmp_path)
    experiment = open_experiment(uri, "described", tmp_path / "mlartifacts")
    parent = start_parent_run(uri, experiment, "described", "launch")
    spec = {"name": "described", "description": description, "resources": {"gpu": 0.5}}
    log_launch(uri, parent, n_trials=1, search="grid", grid={}, spec=spec)
    client = MlflowClient(uri)
    tags = client.get_run(parent).data.tags
    assert tags[VERSION_TAG] == aimstudy.__version__
    assert tags[DEVICE_TAG] == "cuda (0.5 GPU per trial)"
    experiment_tags = client.get_experiment(experiment).tags
    if description:
        assert tags[DESCRIPTION_TAG] == description  # the run's and the experiment's note
        assert experiment_tags[DESCRIPTION_TAG] == description
    else:
        assert DESCRIPTION_TAG not in tags and DESCRIPTION_TAG not in experiment_tags
