"""The `aimstudy` command itself: `list`, -v/-q, Ray's hints, and the exit codes of README.md."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aimstudy import data, models, mtl
from aimstudy.cli import _QUIET_LIBRARIES, build_parser, main, set_verbosity
from aimstudy.commands.list import first_sentence
from aimstudy.train import method_names

REPO = Path(__file__).resolve().parents[1]
STUDY = """\
name: cli-test
dataset: {name: qm9, tasks: nashmtl11, featurizer: 2d, limit: 80, val_size: 12, test_size: 12}
train: {model: gin, model_options: {hidden: 16, layers: 1}, epochs: 1, batch_size: 16}
grid: {method: [ls, pcgrad], n_train: [40], seed: [0]}
resources: {cpu: 1, gpu: 0}
"""


def aimstudy(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The command in a fresh process, as a shell runs it (exit code and streams as they are)."""
    command = [sys.executable, "-m", "aimstudy.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300, **kwargs)


@pytest.fixture
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """-v / -q set logger levels and environment variables for the process: undo them."""
    for variable, _ in _QUIET_LIBRARIES.values():
        monkeypatch.delenv(variable, raising=False)  # restored to what it was at teardown
    names = ["aimstudy", *_QUIET_LIBRARIES]
    levels = {name: logging.getLogger(name).level for name in names}
    root_handlers = list(logging.getLogger().handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = root_handlers


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    return path


def outcome(out: Path, table: pd.DataFrame, **counts: Any) -> Any:
    """What `run_study` returns, for a study that did not run."""
    from aimstudy.tune import StudyOutcome

    return StudyOutcome(
        out_dir=out, tracking_uri="sqlite:///x.db", runs=None, ray_path=out, table=table, **counts
    )


# --- aimstudy list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "names", "row"),
    [
        ("methods", method_names, ["fingerprint-rf", "n_estimators", "300"]),
        ("models", models.names, ["gin", "hidden", "128"]),
        ("datasets", data.names, ["qm9", "tasks", "default"]),
    ],
)
def test_list_shows_every_entry_with_its_options(
    kind: str, names: Any, row: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [kind[:-1].upper(), "OPTION", "DEFAULT", "DESCRIPTION"]
    firsts = [line.split()[0] for line in lines[1:] if line and not line.startswith(" ")]
    assert firsts == names()  # every entry, in the registry's order
    assert any(line.split()[:3] == row for line in lines)
    assert max(map(len, lines)) <= 100


def test_list_columns_line_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    for line in lines[1:]:
        if line.strip() and line[header.index("OPTION") - 1] != " ":
            pytest.fail(f"not aligned under OPTION: {line!r}")
    aim = next(line for line in lines if line.startswith("aim-matrix"))
    assert aim.index("AIM-Matrix") == header.index("DESCRIPTION")


def test_list_json_is_the_registries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "methods", "--format", "json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert list(entries) == method_names()  # gradient methods, then reference models
    assert entries["aim-matrix"]["options"] == mtl.options("aim-matrix")
    assert entries["pcgrad"]["description"].startswith("PCGrad (Yu et al. 2020): project")
    assert main(["list", "datasets", "--format", "json"]) == 0
    qm9 = json.loads(capsys.readouterr().out)[0]
    assert qm9["options"] == data.options("qm9") and "nashmtl11" in qm9["description"]


def test_registries_list_options_with_defaults() -> None:
    assert models.model_options("gin")["hidden"] == 128 and "node_dim" not in models.model_options(
        "gin"
    )
    assert data.options("biogen")["split"] == "random" and "name" not in data.options("biogen")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        data.options("nope")
    assert models.doc("gin") and mtl.doc("ls").startswith("Equal weights")


def test_first_sentence_keeps_abbreviations_and_drops_rest_markup() -> None:
    doc = "MGDA (Sener et al. 2018): the ``min-norm`` point.\nSecond. Third.\n\nMore."
    assert first_sentence(doc) == "MGDA (Sener et al. 2018): the min-norm point."
    assert first_sentence("") == ""


def test_bad_list_kind_exits_2_naming_the_choices() -> None:
    done = aimstudy("list", "method")
    assert done.returncode == 2 and done.stdout == ""
    assert "invalid choice: 'method'" in done.stderr and "Traceback" not in done.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    """`aimstudy list methods | head -1`: no BrokenPipeError traceback."""
    command = [sys.executable, "-m", "aimstudy.cli", "list", "methods"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 141 and err == b""


# --- exit codes ----------------------------------------------------------------------------


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    done = aimstudy("run", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2
    assert done.stderr == f"aimstudy run: error: study file {tmp_path / 'missing.yaml'} not found\n"


def test_bad_study_exits_2_before_anything_runs(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", str(study), "--set", "grid.method=[nope]", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method 'nope'" in err
    assert not (tmp_path / "out").exists()


def test_verbose_adds_the_traceback_of_an_input_error(
    tmp_path: Path, restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["-v", "run", str(tmp_path / "missing.yaml")]) == 2
    (record,) = [r for r in caplog.records if r.name == "aimstudy"]
    assert record.levelno == logging.DEBUG and record.exc_info is not None


@pytest.mark.parametrize(("n_failed", "n_unfinished", "code"), [(0, 0, 0), (1, 0, 1), (0, 2, 130)])
def test_run_exits_1_when_trials_failed_130_when_interrupted(
    n_failed: int,
    n_unfinished: int,
    code: int,
    study: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aimstudy import tune

    def fake_run_study(spec: Any, out: Path, **kwargs: Any) -> Any:
        table = pd.DataFrame({"trial": ["a", "b"], "status": ["OK", "OK"]})
        errors = {"a": "boom"} if n_failed else {}
        return outcome(out, table, n_failed=n_failed, errors=errors, n_unfinished=n_unfinished)

    monkeypatch.setattr(tune, "run_study", fake_run_study)
    assert main(["run", str(study), "--out", str(tmp_path / "out")]) == code
    out = capsys.readouterr().out
    assert ("--resume" in out) == bool(n_unfinished) and ("failed a: boom" in out) == bool(n_failed)


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from aimstudy.commands import list as list_command

    def interrupted(kind: str) -> list[Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(list_command, "entries_of", interrupted)
    assert main(["list", "methods"]) == 130
    assert capsys.readouterr().err == "aimstudy list: interrupted\n"


# --- -v / -q -------------------------------------------------------------------------------


def test_quiet_turns_progress_off_and_libraries_down(
    study: Path,
    tmp_path: Path,
    restore_logging: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aimstudy import tune

    seen: dict[str, Any] = {}

    def fake_run_study(spec: Any, out: Path, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return outcome(out, pd.DataFrame(), n_failed=0)

    monkeypatch.setattr(tune, "run_study", fake_run_study)
    assert main(["run", str(study), "--out", str(tmp_path / "a")]) == 0
    assert seen["progress"] is True  # the default is unchanged
    assert main(["-q", "run", str(study), "--out", str(tmp_path / "b")]) == 0
    assert seen["progress"] is False
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert os.environ["RAY_LOGGER_LEVEL"] == "warning"
    assert logging.getLogger("ray").level == logging.getLogger("mlflow").level == logging.WARNING


def test_quiet_implies_train_no_progress(restore_logging: None) -> None:
    args = build_parser().parse_args(["-q", "train", "--dataset", "qm9", "--out", "x"])
    set_verbosity(args)
    assert args.no_progress is True
    args = build_parser().parse_args(["train", "--dataset", "qm9", "--out", "x"])
    set_verbosity(args)
    assert args.no_progress is False


def test_verbose_and_quiet_exclude_each_other() -> None:
    done = aimstudy("-v", "-q", "list", "models")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_quiet_holds_for_ray_and_mlflow_imported_later() -> None:
    """Both read their level when imported (Ray again in `ray.init`): -q must come first."""
    code = """if True:
        import logging, sys
        from aimstudy.cli import build_parser, set_verbosity
        set_verbosity(build_parser().parse_args(sys.argv[1:] + ["list", "models"]))
        import mlflow
        from ray._private import ray_constants
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database")
        print(ray_constants.LOGGER_LEVEL, logging.getLogger("mlflow").level)
    """
    quiet = subprocess.run(
        [sys.executable, "-c", code, "-q"], capture_output=True, text=True, timeout=300
    )
    assert quiet.stdout.split() == ["warning", str(logging.WARNING)], quiet.stderr
    assert "Creating initial" not in quiet.stderr
    env = {
        k: v for k, v in os.environ.items() if k not in ("RAY_LOGGER_LEVEL", "MLFLOW_LOGGING_LEVEL")
    }
    default = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert default.stdout.split() == ["info", str(logging.INFO)], default.stderr
    assert "Creating initial MLflow database" in default.stderr


# --- Ray's hints ---------------------------------------------------------------------------


def test_ray_hints_are_off_before_ray_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's legacy output is silent at `RunConfig(verbose=0)`: no Tune banner or TensorBoard
    hint; the notice that token auth is on by default is dropped, the warning that it is off
    is kept."""
    from aimstudy.tune._ray import quiet_env

    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    quiet_env()
    quiet_env()
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
    from ray._private.authentication import authentication_token_setup as auth
    from ray.tune.experimental.output import get_air_verbosity

    assert get_air_verbosity(0) is None  # Tune builds no AIR reporter, so no experiment banner
    assert len(auth.logger.filters) == 1
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    auth.logger.addHandler(handler)
    try:
        auth._warn_token_auth_enabled()
        auth._warn_token_auth_disabled()
    finally:
        auth.logger.removeHandler(handler)
    assert [r.getMessage()[:40] for r in records] == ["Token authentication is disabled for thi"]
