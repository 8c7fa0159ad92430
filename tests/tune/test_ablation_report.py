"""A real ablation study through Ray, MLflow and the report: arms that differ only in
`method_options` stay apart in every table and curve."""

from __future__ import annotations

from pathlib import Path

from aimstudy.analysis import analyse, open_study
from aimstudy.tune import run_study, validate_spec
from tests.tune.conftest import tiny_raw

ARMS = [
    {"method": "stl"},
    {"method": "aim-matrix", "method_options": {}},
    {"method": "aim-matrix", "method_options": {"lambda_g": 0.0}},
    {"method": "aim-matrix", "method_options": {"learn_policy": False}},
]
LABELS = {"stl", "aim-matrix", "aim-matrix λ_g=0", "aim-matrix learn_τ=false"}


def test_three_aim_arms_are_three_rows_everywhere(
    ray_session: str, data_cache: Path, tmp_path: Path
) -> None:
    raw = tiny_raw("arms", data_cache)
    raw["grid"] = {"arms": ARMS, "n_train": [40], "seed": [0, 1]}
    raw["train"]["epochs"] = 2
    outcome = run_study(validate_spec(raw), tmp_path / "study")
    assert outcome.n_failed == 0 and outcome.n_unfinished == 0

    analysis = analyse(open_study(tmp_path / "study"))
    assert set(analysis.table["arm"].dropna()) == LABELS
    aims = LABELS - {"stl"}
    for frame in (analysis.delta_summary, analysis.ranks):
        assert set(frame["arm"]) == LABELS
    vs_stl = analysis.comparisons[analysis.comparisons["baseline"] == "stl"]
    assert set(vs_stl["arm"]) == aims and set(vs_stl["n_seeds"]) == {2}
    dm_lines = analysis.curves[analysis.curves["metric"] == "Δm%"]
    assert set(dm_lines["arm"]) == LABELS and set(dm_lines["n_train"]) == {40}

    frozen = analysis.policy[
        (analysis.policy["arm"] == "aim-matrix learn_τ=false")
        & (analysis.policy["matrix"] == "tau")
        & (analysis.policy["task_i"] != analysis.policy["task_j"])
    ]
    assert not frozen.empty and (frozen["value"] == 0.0).all()  # tau_init at every epoch
    learned = analysis.policy[
        (analysis.policy["arm"] == "aim-matrix") & (analysis.policy["matrix"] == "tau")
    ]
    assert (learned["value"].abs() > 0).any()
