"""One output folder, several launches only on purpose: a second `aimstudy run` into a folder
that holds a launch is refused in one line before anything starts; `--new-launch` starts another
launch beside the first (its own parent run and Tune experiment), both launches' trials remain."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from aimstudy import cli
from aimstudy.tracking import ROLE_TAG, child_runs
from aimstudy.tune import STATE_FILE, StudyFolder, run_study, validate_spec
from aimstudy.tune._folder import check_same_spec, launch_state
from tests.tune.conftest import tiny_raw


def _snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def _cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a refused `aimstudy run` (exit 2)."""
    capsys.readouterr()  # what earlier runs wrote
    assert cli.main(["run", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_folder_states_that_are_refused(tmp_path: Path, data_cache: Path) -> None:
    spec = validate_spec(tiny_raw("launch-unit", data_cache))
    assert launch_state(tmp_path, spec, resume=False, new_launch=False) is None  # empty folder
    assert launch_state(tmp_path, spec, resume=False, new_launch=True) is None
    (tmp_path / STATE_FILE).write_text(json.dumps({"study": "other"}))
    for new_launch in (False, True):
        with pytest.raises(ValueError, match=r"holds study 'other', not 'launch-unit'; choose an"):
            launch_state(tmp_path, spec, resume=False, new_launch=new_launch)
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"study.json: not valid JSON .*; remove it or choose"):
        launch_state(tmp_path, spec, resume=False, new_launch=False)
    with pytest.raises(ValueError, match=r"^--resume and --new-launch: give one"):
        launch_state(tmp_path, spec, resume=True, new_launch=True)


def test_one_launch_holds_a_folder_at_a_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = StudyFolder(tmp_path / "out")
    with folder.lock():
        owner = json.loads((folder.path / ".lock.owner").read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(ValueError) as refused, folder.lock():
            pass
        assert str(refused.value).startswith(
            f"{folder.path} is in use by another aimstudy run (pid {os.getpid()} on host "
            f"{socket.gethostname()}, since "
        )
    assert not folder.path.exists()  # the lock made it and nothing else wrote to it

    folder.path.mkdir()
    (folder.path / ".lock.owner").write_text(json.dumps(owner))  # its holder died
    with caplog.at_level(logging.WARNING), folder.lock():
        (folder.path / "mlflow.db").touch()
    assert f"broke the stale lock of pid {os.getpid()}" in caplog.text
    assert sorted(p.name for p in folder.path.iterdir()) == [".lock", "mlflow.db"]

    (tmp_path / "file").touch()
    with (
        pytest.raises(ValueError, match=r"^output folder .*/file is a file"),
        StudyFolder(tmp_path / "file").lock(),
    ):
        pass


@pytest.mark.integration
@pytest.mark.slow
def test_second_run_is_refused_and_new_launch_adds_a_parent_run(
    ray_session: str,
    data_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = tiny_raw(
        "launch-study", data_cache, train={"epochs": 2}, grid={"method": ["ls"], "seed": [0, 1]}
    )
    spec = validate_spec(raw)
    out = tmp_path / "out"
    first = run_study(spec, out, progress=False)
    assert first.n_failed == 0

    study = tmp_path / "launch.yaml"
    study.write_text(yaml.safe_dump(raw))
    before = _snapshot(out)
    with monkeypatch.context() as patch:  # a refused run must not even start Ray
        patch.setattr("aimstudy.tune._ray.init_ray", _must_not_start)
        message = _cli_error([str(study), "--out", str(out)], capsys)
        assert message == (
            f"aimstudy run: error: {out} already holds a launch of 'launch-study' (study.json): "
            "continue it with --resume, or start another in the same folder and MLflow "
            "experiment with --new-launch"
        )
        both = _cli_error([str(study), "--out", str(out), "--resume", "--new-launch"], capsys)
        assert "--resume and --new-launch: give one" in both
        changed = [str(study), "--out", str(out), "--resume", "--set", "train.lr=0.01"]
        changed += ["--set", "grid.seed=[0, 1, 2]"]
        assert _cli_error(changed, capsys) == (
            f"aimstudy run: error: --resume: the spec differs from the launch in {out}/study.yaml:"
            " grid.seed: [0, 1] -> [0, 1, 2]; train.lr: None -> 0.01; resume with that spec, or "
            "run the changed study with --new-launch or another --out"
        )
    assert _snapshot(out) == before  # nothing written
    # How a launch runs may change on --resume (cores, retries), what it runs may not.
    how = {**raw, "resources": {"cpu": 2, "gpu": 0}, "failure": {"max_failures": 0}}
    check_same_spec(StudyFolder(out), validate_spec(how))

    second = run_study(spec, out, new_launch=True, progress=False)
    assert second.n_failed == 0
    assert second.runs.experiment_id == first.runs.experiment_id
    assert second.runs.parent_run_id != first.runs.parent_run_id
    assert second.ray_path != first.ray_path and first.ray_path.is_dir()
    assert second.ray_path.parent == first.ray_path.parent  # both under <out>/ray
    state = json.loads((out / STATE_FILE).read_text())
    assert state["parent_run_id"] == second.runs.parent_run_id
    assert state["ray_path"] == str(second.ray_path)

    client = MlflowClient(first.tracking_uri)
    parents = client.search_runs(
        [first.runs.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'study'"
    )
    assert {p.info.run_id for p in parents} == {
        first.runs.parent_run_id,
        second.runs.parent_run_id,
    }
    for launch in (first, second):  # each launch keeps its own two finished trials
        trials = child_runs(launch.runs)
        assert sorted(r.data.params["seed"] for r in trials) == ["0", "1"]
        assert {r.info.status for r in trials} == {"FINISHED"}
        assert client.get_run(launch.runs.parent_run_id).info.status == "FINISHED"


def _must_not_start(*args: object, **kwargs: object) -> None:
    raise AssertionError("Ray was started for a refused run")
