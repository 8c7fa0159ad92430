"""Bad input to `aimstudy predict` and `aimstudy export`: one line naming what and where,
exit code 2, and nothing written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch

from aimstudy.cli import main
from tests.predict.conftest import TinyStudy

# case -> (MODEL and extra flags from the study and a scratch folder, expected message part)
Case = Callable[[TinyStudy, Path], list[str]]


def _old_version(study: TinyStudy, tmp: Path) -> list[str]:
    """A copy of a trial folder whose best.pt has the keys of version 1 (no units, scaler...)."""
    folder = tmp / "old-trial"
    shutil.copytree(study.trials["ls"].workdir, folder)
    best = folder / "checkpoints" / "best.pt"
    saved = torch.load(best, weights_only=False)
    v1 = ("config", "epoch", "model", "metrics", "task_names")
    torch.save({"version": 1, **{k: saved[k] for k in v1}}, best)
    return [str(folder)]


def _csv(tmp: Path, name: str, frame: pd.DataFrame | None = None, text: str = "") -> Path:
    path = tmp / name
    if frame is not None:
        frame.to_csv(path, index=False)
    else:
        path.write_text(text)
    return path


CASES: dict[str, tuple[Case, str]] = {
    "not a model": (lambda s, t: [str(t)], "not a trial folder (no checkpoints/best.pt)"),
    "no such model": (lambda s, t: [str(t / "nope")], "nope: no such file or folder"),
    "run without store": (lambda s, t: ["runs:/abc"], "give --tracking-uri"),
    "unknown run": (
        lambda s, t: ["runs:/0123456789abcdef", "--tracking-uri", s.tracking_uri],
        "run 0123456789abcdef in sqlite:",
    ),
    "old checkpoint": (_old_version, "checkpoint version 1 is not supported by aimstudy"),
    "metric nobody logged": (
        lambda s, t: [str(s.folder), "--metric", "val/nothing"],
        "--metric val/nothing: no finished trial",
    ),
}
INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "no smiles column": (
        lambda t: _csv(t, "in.csv", pd.DataFrame({"SMILES_x": ["CCO"]})),
        "no SMILES column 'smiles' (columns: SMILES_x)",
    ),
    "unreadable": (lambda t: _csv(t, "in.parquet", text="a,b\n1,2\n"), "cannot be read as parquet"),
    "unknown format": (lambda t: _csv(t, "in.txt", text="CCO\n"), "unknown format"),
    "missing": (lambda t: t / "absent.csv", "absent.csv: no such file"),
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["predict", *argv])
    return code, capsys.readouterr().err


def _one_line(err: str, expected: str) -> None:
    assert err.count("\n") == 1 and err.startswith("aimstudy predict: error: "), err
    assert expected in err, err


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_model_is_one_line(
    case: str,
    study: TinyStudy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    model, expected = CASES[case]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    source = _csv(tmp_path, "in.csv", pd.DataFrame({"smiles": ["CCO"]}))
    out = tmp_path / "out.csv"
    code, err = _run(capsys, *model(study, scratch), "--input", str(source), "--out", str(out))
    assert code == 2
    _one_line(err, expected)
    assert not out.exists()


@pytest.mark.parametrize("case", list(INPUTS))
def test_bad_input_is_one_line(
    case: str, study: TinyStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = INPUTS[case]
    out = tmp_path / "out.csv"
    model = str(study.trials["ls"].workdir)
    code, err = _run(capsys, model, "--input", str(make(tmp_path)), "--out", str(out))
    assert code == 2
    _one_line(err, expected)
    assert not out.exists()


def test_an_unknown_output_format_is_refused_before_reading(
    study: TinyStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, "in.csv", pd.DataFrame({"smiles": ["CCO"]}))
    out = tmp_path / "out.xlsx"
    model = str(study.trials["ls"].workdir)
    code, err = _run(capsys, model, "--input", str(source), "--out", str(out))
    assert code == 2
    _one_line(err, "--out")
    assert "unknown format" in err and not out.exists()


def test_export_of_a_folder_that_is_no_model_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["export", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "aimstudy export: error: MODEL" in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line(
    study: TinyStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, "in.csv", pd.DataFrame({"smiles": ["CCO"]}))
    out = tmp_path / "out.csv"
    argv = ["--input", str(source), "--out", str(out), "--device", "cuda"]
    code, err = _run(capsys, str(study.trials["ls"].workdir), *argv)
    assert code == 2
    _one_line(err, "CUDA is not available")
    assert not out.exists()
