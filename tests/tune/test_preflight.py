"""Preflight: every data, metric, tracking and folder error is one line before Ray starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from aimstudy.cli import main
from aimstudy.train import Callback, EpochReport, run_trial
from aimstudy.tune import _ray as tune_ray
from aimstudy.tune import load_spec, preflight, run_study, validate_spec
from aimstudy.tune._preflight import epoch_metrics, policy_metrics

N = 60  # molecules of the fixture file: featurized in well under a second


def _frame(n: int = N) -> pd.DataFrame:
    """n distinct small alkanes / peroxides with two dense numeric targets and a text column."""
    smiles = [("C" * (1 + k % 12)) + ("O" * (k // 12)) for k in range(n)]
    return pd.DataFrame(
        {"smiles": smiles, "y": np.linspace(0, 1, n), "y2": np.arange(n) % 7, "note": "x"}
    )


def _raw(path: Path, cache: Path, **dataset: Any) -> dict[str, Any]:
    return {
        "name": "preflight",
        "dataset": {
            "name": "csv",
            "path": str(path),
            "tasks": ["y", "y2"],
            "featurizer": "2d",
            "val_size": 6,
            "test_size": 6,
            "cache_dir": str(cache),
            **dataset,
        },
        "train": {
            "model": "gin",
            "model_options": {"hidden": 16, "layers": 1},
            "epochs": 1,
            "batch_size": 16,
            "patience": None,
        },
        "grid": {"method": ["ls"], "n_train": [20], "seed": [0]},
        "resources": {"cpu": 1, "gpu": 0},
        "failure": {"max_failures": 2},
    }


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "mols.csv"
    _frame().to_csv(path, index=False)
    return path


@pytest.fixture
def study(tmp_path: Path, csv: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(_raw(csv, tmp_path / "cache")))
    return path


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Starting Ray fails the test: every check here must come before it."""
    import ray

    was_running = ray.is_initialized()

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("Ray was started")

    monkeypatch.setattr(tune_ray, "init_ray", refuse)
    yield
    assert ray.is_initialized() == was_running


def _check_error(
    capsys: pytest.CaptureFixture[str], out: Path, argv: list[str], *expected: str
) -> str:
    """`aimstudy run ... --check` exits 2 with one error line holding `expected`, no traceback,
    and creates nothing in the output folder."""
    before = sorted(out.iterdir()) if out.is_dir() else None
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in errors[0], errors[0]
    assert (sorted(out.iterdir()) if out.is_dir() else None) == before
    return errors[0]


def _write(tmp_path: Path, name: str, frame: pd.DataFrame | None, text: str = "") -> Path:
    path = tmp_path / name
    if frame is None:
        path.write_text(text)
    else:
        frame.to_csv(path, index=False)
    return path


def _bad_files(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each data error of the issue: --set overrides -> text the one error line holds."""
    frame = _frame()
    no_smiles = _write(tmp_path, "no-smiles.csv", frame.rename(columns={"smiles": "mol"}))
    invalid = _write(tmp_path, "invalid.csv", frame.assign(smiles="not_a_smiles"))
    unlabelled = _write(tmp_path, "unlabelled.csv", frame.assign(y2=np.nan))
    empty = _write(tmp_path, "empty.csv", None)
    text_parquet = _write(tmp_path, "text.parquet", None, "smiles,y\nCCO,1\n")
    grid = "grid.n_train="
    return {
        "n_train beyond the pool": ([f"{grid}[100]"], "n_train=100 is more than the 48"),
        "val_size beyond the pool": (["dataset.val_size=60"], "val_size=60.0 leaves no molecules"),
        "unknown task": (["dataset.tasks=[y, logD]"], "['logD'] not found"),
        "missing file": ([f"dataset.path={tmp_path / 'nope.csv'}"], "nope.csv does not exist"),
        "empty file": ([f"dataset.path={empty}"], str(empty)),
        "no SMILES column": ([f"dataset.path={no_smiles}"], "no SMILES column found"),
        "non-numeric target": (["dataset.tasks=[y, note]"], "['note'] are not numeric"),
        "only invalid SMILES": ([f"dataset.path={invalid}"], "no molecule of 60 could be"),
        "task without labels": ([f"dataset.path={unlabelled}"], "['y2'] have no labelled"),
        "unknown SMILES column": (["dataset.smiles_column=smi"], "SMILES column 'smi' not"),
        "text file named .parquet": ([f"dataset.path={text_parquet}"], str(text_parquet)),
        "empty val part": (["dataset.val_size=0.001"], "leaves the val part empty"),
    }


CASES = [
    "n_train beyond the pool",
    "val_size beyond the pool",
    "unknown task",
    "missing file",
    "empty file",
    "no SMILES column",
    "non-numeric target",
    "only invalid SMILES",
    "task without labels",
    "unknown SMILES column",
    "text file named .parquet",
    "empty val part",
]


@pytest.mark.parametrize("case", CASES)
def test_each_data_error_is_one_line_from_check(
    case: str, study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    cases = _bad_files(tmp_path)
    assert list(cases) == CASES
    overrides, expected = cases[case]
    out = tmp_path / "out"
    sets = [arg for item in overrides for arg in ("--set", item)]
    _check_error(capsys, out, ["run", str(study), "--out", str(out), "--check", *sets], expected)
    assert not out.exists()


def test_a_valid_study_passes_check_and_reports_the_data(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "data checked: 1 dataset configuration(s), 1 split(s)" in printed
    assert not out.exists()


def test_the_run_itself_refuses_before_ray_and_writes_nothing(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    """Without --check too: the driver's preflight (called by run_study) stops it."""
    out = tmp_path / "out"
    argv = ["run", str(study), "--out", str(out), "--set", "dataset.tasks=[y, logD]"]
    _check_error(capsys, out, argv, "['logD'] not found")
    assert not (out / "mlflow.db").exists()


def test_a_metric_no_trial_reports(tmp_path: Path, csv: Path, no_ray: None) -> None:
    raw = _raw(csv, tmp_path / "cache")
    asha = validate_spec({**raw, "tune": {"scheduler": "asha", "metric": "val/mae/Y"}})
    with pytest.raises(ValueError, match=r"tune.metric: 'val/mae/Y' .* \(ASHA compares it\)") as e:
        preflight(asha, tmp_path / "out", "sqlite:////tmp/unused.db")
    assert "did you mean 'val/mae/y'" in str(e.value) and "\n" not in str(e.value)
    optuna = validate_spec(
        {
            **raw,
            "grid": {"method": ["ls"], "seed": [0]},
            "tune": {
                "search": "optuna",
                "space": {"n_train": {"randint": [10, 30]}},
                "metric": ["val/norm_mae", "best/val/norm_mae"],
                "mode": "min",
            },
        }
    )
    with pytest.raises(ValueError, match=r"tune.metric\[1\]: .* give the epoch metric"):
        preflight(optuna, tmp_path / "out", "sqlite:////tmp/unused.db")
    ok = validate_spec({**raw, "tune": {"scheduler": "asha", "metric": "val/mae/y2"}})
    assert preflight(ok, tmp_path / "out", "sqlite:////tmp/unused.db").n_prepared == 1


def test_policy_metrics_are_checked_per_method(tmp_path: Path, csv: Path, no_ray: None) -> None:
    raw = _raw(csv, tmp_path / "cache")
    raw["grid"]["method"] = ["ls", "aim-matrix"]
    spec = validate_spec({**raw, "tune": {"scheduler": "asha", "metric": "policy/mean_gate"}})
    with pytest.raises(ValueError, match=r"'policy/mean_gate' .* trial \(method='ls'"):
        preflight(spec, tmp_path / "out", "sqlite:////tmp/unused.db")
    raw["grid"]["method"] = ["aim-matrix"]
    spec = validate_spec({**raw, "tune": {"scheduler": "asha", "metric": "policy/mean_gate"}})
    preflight(spec, tmp_path / "out", "sqlite:////tmp/unused.db")


@pytest.mark.parametrize("method", ["ls", "aim-matrix"])
def test_derived_metric_names_are_what_a_trial_reports(
    method: str, tmp_path: Path, csv: Path
) -> None:
    """The derived names against a real trial's epoch row (the loop's literal keys drift here)."""
    spec = validate_spec(_raw(csv, tmp_path / "cache"))
    config = spec.trial_config({"method": method, "n_train": 20, "diagnose_every": 1})
    config = config.model_copy(update={"stl_reference": {"y": 1.0, "y2": 1.0}})
    result = run_trial(config, tmp_path / "trial")
    derived = epoch_metrics(config, ["y", "y2"]) | policy_metrics(config, ["y", "y2"])
    assert set(result.history[0]) == derived


def test_tracking_uri_with_an_unknown_scheme(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    out = tmp_path / "out"
    argv = ["run", str(study), "--out", str(out), "--check", "--tracking-uri", "foo://bar"]
    _check_error(capsys, out, argv, "tracking URI 'foo://bar': MLflow has no store", "sqlite")


def test_an_output_folder_that_is_a_file(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    out = tmp_path / "taken"
    out.write_text("not a folder")
    argv = ["run", str(study), "--check", "--out"]
    _check_error(capsys, tmp_path / "x", [*argv, str(out)], f"output folder {out} is a file")
    _check_error(capsys, tmp_path / "x", [*argv, str(out / "sub")], "has a file in its path")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("where", ["folder", "parent"])
def test_a_read_only_output_folder(
    where: str, study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if where == "folder" else locked / "study"
    locked.chmod(0o555)
    try:
        argv = ["run", str(study), "--check", "--out", str(out)]
        _check_error(capsys, locked, argv, f"output folder {out} cannot be written")
    finally:
        locked.chmod(0o755)


def test_skipped_smiles_are_reported_once(tmp_path: Path, no_ray: None) -> None:
    frame = _frame()
    frame.loc[[3, 10, 11], "smiles"] = ["not_a_smiles", "C1CC", None]
    path = _write(tmp_path, "some-invalid.csv", frame)
    raw = _raw(path, tmp_path / "cache")
    raw["grid"]["seed"] = [0, 1]
    result = preflight(validate_spec(raw), tmp_path / "out", "sqlite:////tmp/unused.db")
    assert result.n_prepared == 2 and len(result.data) == 1  # one pool, two seeds' splits
    (facts,) = result.data
    skipped = ("not_a_smiles", "C1CC", "")  # rows 3, 10, 11: invalid, invalid, empty
    assert (facts.n_skipped, facts.n_molecules, facts.skipped) == (3, 57, skipped)
    assert result.lines[0].endswith(
        "3 of 60 molecules skipped (invalid or empty SMILES), first: 'not_a_smiles', 'C1CC', ''"
    )
    assert result.tags() == {
        "aimstudy.skipped_smiles": "3",
        "aimstudy.skipped_smiles_first": '["not_a_smiles", "C1CC", ""]',
    }


def test_preflight_warms_the_feature_cache(tmp_path: Path, study: Path) -> None:
    spec = load_spec(study)
    first = preflight(spec, tmp_path / "out", "sqlite:////tmp/unused.db")
    again = preflight(spec, tmp_path / "out", "sqlite:////tmp/unused.db")
    assert not first.data[0].from_cache and again.data[0].from_cache


class FailsWithValueError(Callback):
    """Counts the epochs every attempt runs in `log`, then fails as bad input would."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def on_epoch_end(self, report: EpochReport) -> None:
        with open(self.log, "a") as handle:
            handle.write(f"{report.epoch}\n")
        raise ValueError("bad input found inside the trial")


def test_a_deterministic_error_is_not_retried(
    ray_session: str, tmp_path: Path, study: Path
) -> None:
    """max_failures=2, yet the trial trains once; the retries end at once with the same reason."""
    from aimstudy.tracking import ERROR_TAG, child_runs

    log = tmp_path / "epochs.log"
    spec = load_spec(study)
    outcome = run_study(
        spec, tmp_path / "out", extra_callbacks=[FailsWithValueError(log)], progress=False
    )
    assert log.read_text().split() == ["1"]  # one attempt trained; the retries did not
    assert outcome.n_failed == 1
    (reason,) = outcome.errors.values()
    assert "bad input found inside the trial" in reason and "not retried" in reason
    (run,) = child_runs(outcome.runs)
    assert run.info.status == "FAILED" and run.data.tags["aimstudy.attempts"] == "1"
    assert "bad input found inside the trial" in run.data.tags[ERROR_TAG]
