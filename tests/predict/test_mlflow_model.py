"""The MLflow model of a trial: logged at the trial's end (a logged model of its run, with its
best metrics), loaded with `mlflow.pyfunc.load_model("runs:/...")`, exported with `aimstudy
export` and served by `mlflow models serve`: the same predictions as `aimstudy predict`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from aimstudy.cli import build_parser, main
from aimstudy.commands.train import build_config
from aimstudy.predict import Predictor
from aimstudy.tracking import log_trial_model
from aimstudy.train import best_key
from tests.predict.conftest import TASKS, TinyStudy

MLFLOW_CLI = Path(sys.executable).with_name("mlflow")


def expected(study: TinyStudy, method: str, smiles: pd.Series) -> pd.DataFrame:
    """What `aimstudy predict` gives (tasks and error) for the trial of `method`."""
    workdir = study.trials[method].workdir
    return Predictor.load(workdir / "checkpoints" / "best.pt").predict(smiles.tolist())


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got[TASKS].reset_index(drop=True), want[TASKS], rtol=1e-6)
    assert got["error"].isna().tolist() == want["error"].isna().tolist()


@pytest.mark.parametrize("method", ["ls", "stl"])
def test_the_logged_model_of_a_run_predicts_as_the_cli(
    method: str, study: TinyStudy, molecules: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = study.trials[method]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", study.tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{trial.run_id}/model")
    got = model.predict(molecules[["smiles"]])
    assert list(got.columns) == ["smiles", *TASKS, "error"]
    same(got, expected(study, method, molecules.smiles))
    client = MlflowClient(study.tracking_uri)
    experiment = client.get_run(trial.run_id).info.experiment_id
    # a retried trial's end logs no second model
    again = log_trial_model(client, trial.run_id, trial.workdir, TASKS, trial.result.metrics, 1)
    (logged,) = [
        m for m in client.search_logged_models([experiment]) if m.source_run_id == trial.run_id
    ]
    assert (logged.name, str(logged.status), logged.model_id) == ("model", "READY", again)
    assert logged.params["method"] == method
    metrics = {m.key: m.value for m in logged.metrics or []}
    key = best_key("val/norm_mae")
    assert metrics[key] == pytest.approx(trial.result.metrics[key])


def test_export_writes_the_best_model_and_a_config_train_takes(
    study: TinyStudy, molecules: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = {m: t.result.metrics[best_key("val/norm_mae")] for m, t in study.trials.items()}
    best = min(scores, key=scores.get)
    out = tmp_path / "best"
    assert main(["-q", "export", str(study.folder), "--out", str(out)]) == 0
    assert study.trials[best].run_id in capsys.readouterr().out
    model = mlflow.pyfunc.load_model(str(out / "model"))
    same(model.predict(molecules[["smiles"]]), expected(study, best, molecules.smiles))
    args = build_parser().parse_args(
        ["train", "--config", str(out / "config.yaml"), "--out", str(tmp_path / "again")]
    )
    assert build_config(args) == study.trials[best].config
    assert yaml.safe_load((out / "config.yaml").read_text())["method"] == best
    # the exported folder is a MODEL for `aimstudy predict` as well
    molecules.to_csv(tmp_path / "in.csv", index=False)
    argv = ["predict", str(out / "model"), "--input", str(tmp_path / "in.csv")]
    assert main(["-q", *argv, "--out", str(tmp_path / "out.csv")]) == 0
    same(pd.read_csv(tmp_path / "out.csv"), expected(study, best, molecules.smiles))
    capsys.readouterr()
    assert main(["-q", "export", str(study.folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds model, config.yaml" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow models serve at {url}: no /ping after {timeout_s} s")


@pytest.mark.skipif(not MLFLOW_CLI.is_file(), reason=f"no mlflow command at {MLFLOW_CLI}")
def test_a_served_model_predicts_as_the_cli(
    study: TinyStudy, molecules: pd.DataFrame, tmp_path: Path
) -> None:
    trial = study.trials["stl"]
    port, log = _free_port(), tmp_path / "serve.log"
    command = [str(MLFLOW_CLI), "models", "serve", "-m", f"runs:/{trial.run_id}/model"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    path = f"{MLFLOW_CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}"  # it runs uvicorn
    env = {**os.environ, "MLFLOW_TRACKING_URI": study.tracking_uri, "PATH": path}
    with open(log, "w") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        body = {"dataframe_split": {"columns": ["smiles"], "data": [[s] for s in molecules.smiles]}}
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            got = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
    same(got, expected(study, "stl", molecules.smiles))
