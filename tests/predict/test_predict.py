"""`aimstudy predict`: one row per input in order, invalid SMILES flagged, and the trainer's
reported test MAE reproduced from the predictions, for ls and for stl (each task's member at
its own best epoch); MODEL as a trial folder, a study folder and an MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimstudy.cli import main
from aimstudy.predict import Predictor
from aimstudy.train import best_key
from tests.predict.conftest import INVALID, TASKS, TinyStudy, split_mae


def predict(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """`aimstudy -q predict ...` in this process: (exit code, stdout, stderr)."""
    code = main(["-q", "predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


@pytest.mark.parametrize("method", ["ls", "stl"])
def test_predictions_reproduce_the_reported_test_metrics(
    method: str,
    study: TinyStudy,
    molecules: pd.DataFrame,
    test_split: tuple[list[str], np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trial = study.trials[method]
    molecules.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    code, stdout, _ = predict(capsys, trial.workdir, "--input", tmp_path / "in.csv", "--out", out)
    assert code == 0
    assert f"predicted {len(molecules) - len(INVALID)} of {len(molecules)} rows" in stdout
    assert "homo [meV]" in stdout
    got = read(out)
    assert list(got.columns) == ["id", "smiles", *TASKS, "error"]
    assert list(got["id"]) == list(molecules["id"])  # one row per input, in input order
    invalid = got["smiles"].isna() | got["smiles"].isin(INVALID)
    assert invalid.sum() == len(INVALID)
    assert got.loc[invalid, "error"].notna().all() and got.loc[~invalid, "error"].isna().all()
    assert got.loc[invalid, TASKS].isna().all().all()
    errors = got.loc[invalid, "error"].tolist()  # an empty CSV cell reads as missing
    assert errors == [
        "invalid SMILES 'not a smiles' (RDKit cannot parse it)",
        "missing SMILES",
        "invalid SMILES 'C1CC' (RDKit cannot parse it)",
    ]
    for t, name in enumerate(TASKS):
        mae = split_mae(got, test_split[1], t, name)
        assert mae == pytest.approx(trial.reported(name), rel=1e-5), name


def test_stl_members_come_from_each_tasks_own_best_epoch(study: TinyStudy) -> None:
    import torch

    trial = study.trials["stl"]
    saved = torch.load(trial.workdir / "checkpoints" / "best.pt", weights_only=False)
    history = trial.result.history
    for name in TASKS:
        values = [row[f"val/mae/{name}"] for row in history]
        assert saved["member_epochs"][name] == history[int(np.argmin(values))]["epoch"]
    assert saved["epoch"] == trial.result.best_epoch


def test_a_study_predicts_with_its_best_trial_by_metric(
    study: TinyStudy, molecules: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    molecules.to_parquet(tmp_path / "in.parquet")
    scores = {m: t.result.metrics for m, t in study.trials.items()}
    for metric, mode in [("val/norm_mae", "min"), ("test/mae/homo", "max")]:
        pick = (min if mode == "min" else max)(scores, key=lambda m: scores[m][best_key(metric)])
        out = tmp_path / f"{mode}.parquet"
        argv = ["--input", tmp_path / "in.parquet", "--out", out, "--metric", metric]
        code, stdout, _ = predict(capsys, study.folder, *argv, "--mode", mode)
        assert code == 0, stdout
        assert study.trials[pick].run_id in stdout
        direct = Predictor.load(study.trials[pick].workdir / "checkpoints" / "best.pt")
        expected = direct.predict(molecules["smiles"].tolist())
        pd.testing.assert_frame_equal(read(out)[TASKS], expected[TASKS])


def test_an_mlflow_run_predicts_as_its_trial_folder(
    study: TinyStudy, molecules: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = study.trials["stl"]
    molecules.to_csv(tmp_path / "in.csv", index=False)
    io = ["--input", tmp_path / "in.csv", "--batch-size", "4"]
    run = f"runs:/{trial.run_id}"
    assert (
        predict(
            capsys, run, *io, "--out", tmp_path / "run.csv", "--tracking-uri", study.tracking_uri
        )[0]
        == 0
    )
    assert predict(capsys, trial.workdir, *io, "--out", tmp_path / "folder.csv")[0] == 0
    pd.testing.assert_frame_equal(read(tmp_path / "run.csv"), read(tmp_path / "folder.csv"))


def test_a_checkpoint_predicts_without_its_dataset(
    study: TinyStudy, molecules: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """best.pt holds the model, scaler, tasks and units: with no dataset registered at all
    (every dataset read goes through the registry) it loads and predicts the same."""
    from aimstudy.data import _registry

    trial = study.trials["ls"]
    expected = Predictor.load(trial.workdir / "checkpoints" / "best.pt").predict(molecules.smiles)
    monkeypatch.setattr(_registry, "_REGISTRY", {})
    predictor = Predictor.load(trial.workdir / "checkpoints" / "best.pt", device="cpu")
    assert predictor.units == {"homo": "meV", "lumo": "meV", "mu": "D"}
    assert predictor.config["method"] == "ls" and predictor.epoch == trial.result.best_epoch
    pd.testing.assert_frame_equal(predictor.predict(molecules.smiles, batch_size=5), expected)
