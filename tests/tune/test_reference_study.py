"""A study with a fingerprint-rf arm beside GNN arms, through real Ray, MLflow and the report:
the forest is one more arm in every table, and its logged model predicts."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from aimstudy.analysis import analyse, open_study, write_report
from aimstudy.tracking import child_runs
from aimstudy.tune import run_study, validate_spec
from tests.tune.conftest import tiny_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_fingerprint_forest_is_one_more_arm(
    ray_session: str, data_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tiny_raw("reference-arm", data_cache)
    rf_arm = {"method": "fingerprint-rf", "method_options": {"n_estimators": 20}}
    raw["grid"] = {
        "arms": [{"method": "stl"}, {"method": "ls"}, rf_arm],
        "n_train": [40],
        "seed": [0],
    }
    raw["train"]["epochs"] = 2
    outcome = run_study(validate_spec(raw), tmp_path / "study")
    assert outcome.n_failed == 0 and outcome.n_unfinished == 0

    runs = {r.data.params["method"]: r for r in child_runs(outcome.runs)}
    forest = runs["fingerprint-rf"]
    assert forest.data.params["method_options.n_estimators"] == "20"
    assert forest.info.status == "FINISHED"
    assert set(runs["ls"].data.metrics) - set(forest.data.metrics) <= {
        k for k in runs["ls"].data.metrics if k.startswith("policy/")
    }  # every metric an ls run logs, but for its gradient diagnostics
    monkeypatch.setenv("MLFLOW_TRACKING_URI", outcome.tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{forest.info.run_id}/model")
    got = model.predict(pd.DataFrame({"smiles": ["CCO", "not-a-smiles"]}))
    assert got["error"].isna().tolist() == [True, False] and math.isfinite(got["mu"][0])

    analysis = analyse(open_study(tmp_path / "study"))
    arms = set(analysis.table["arm"].dropna())
    (rf,) = [a for a in arms if a.startswith("fingerprint-rf")]
    assert arms == {"stl", "ls", rf}
    for frame, column in ((analysis.delta_summary, "mean"), (analysis.ranks, "mean_rank")):
        row = frame[frame["arm"] == rf]
        assert len(row) == 1 and math.isfinite(float(row[column].iloc[0])), frame
    assert set(analysis.undertrained["arm"]) == {"stl", "ls"}  # a forest has no epochs to raise
    report = write_report(analysis).markdown.read_text()
    assert rf in report
