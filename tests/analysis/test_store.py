"""The tidy table, study resolution and grid status read from a real (synthetic) MLflow store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from aimstudy.analysis import load_runs, open_study, results_table, write_results
from tests.analysis.synthetic import METHODS, PEAK_EARLY, SEEDS, SIZES, TASKS


@pytest.fixture(scope="module")
def analysis(synthetic_analysis):  # noqa: ANN001, ANN201
    return synthetic_analysis


def test_open_study_from_folder_reads_driver_state(synthetic_study) -> None:  # noqa: ANN001
    folder, ids = synthetic_study
    study = open_study(folder)
    assert study.name == "synthetic" and study.tracking_uri == ids["uri"]
    assert study.optuna_storage and study.optuna_storage.endswith("optuna.db")


def test_grid_comes_from_the_parent_run_param(analysis) -> None:  # noqa: ANN001
    assert analysis.study.grid["seed"] == [*SEEDS, 3]
    assert len(analysis.study.expected_cells()) == len(METHODS) * len(SIZES) * (len(SEEDS) + 1)


def test_open_study_from_yaml_spec_output(synthetic_study, tmp_path: Path) -> None:  # noqa: ANN001
    folder, ids = synthetic_study
    study = open_study(folder.parent / "synthetic.yaml")
    assert study.folder == folder.resolve() and study.tracking_uri == ids["uri"]
    assert study.grid["method"] == METHODS
    spec = tmp_path / "other.yaml"
    spec.write_text(yaml.safe_dump({"name": "synthetic", "output": str(folder)}))
    assert open_study(spec, experiment="synthetic").folder == folder.resolve()


def test_bad_study_input_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        open_study(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no MLflow store"):
        open_study(tmp_path)
    (tmp_path / "x.yaml").write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        open_study(tmp_path / "x.yaml")


def test_unknown_experiment_names_what_exists(synthetic_study) -> None:  # noqa: ANN001
    _, ids = synthetic_study
    with pytest.raises(ValueError, match=r"'other' not found.*synthetic"):
        load_runs(ids["uri"], "other")


def test_tidy_table_one_row_per_trial_task_split(analysis) -> None:  # noqa: ANN001
    table = analysis.table
    n_trials = len(METHODS) * len(SIZES) * len(SEEDS)
    assert table["run_id"].nunique() == n_trials
    assert len(table) == n_trials * len(TASKS) * 3
    assert not table.duplicated(["run_id", "task", "split"]).any()
    assert set(table["task"]) == set(TASKS) and set(table["split"]) == {"train", "val", "test"}
    finished = table[table["status"] == "FINISHED"]
    assert (finished["mae_source"] == "best").all()
    early = finished["method"].isin(PEAK_EARLY)
    assert (finished[~early]["best_epoch"] == 6).all()
    assert (finished[early]["best_epoch"] == 4).all()
    failed = table[table["status"] == "FAILED"]
    assert failed["run_id"].nunique() == 1 and (failed["mae_source"] == "last").all()
    assert table["n_train"].tolist() == table["n_train"].astype(int).tolist()  # ints, not 100.0
    assert (table["wall_time_s"] >= 0).all() and (table["dataset.name"] == "qm9").all()


def test_results_parquet_round_trip(analysis, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_results(analysis.table, tmp_path / "results.parquet")
    back = pd.read_parquet(path)
    assert len(back) == len(analysis.table)
    assert back["mae"].tolist() == pytest.approx(analysis.table["mae"].tolist(), nan_ok=True)


def test_parent_run_excluded_and_found(analysis, synthetic_study) -> None:  # noqa: ANN001
    _, ids = synthetic_study
    assert analysis.parent_run_id == ids["parent"]
    assert ids["parent"] not in set(analysis.table["run_id"])
    assert results_table(analysis.runs[analysis.runs["role"] == "study"]).empty


def test_grid_status_lists_failed_and_missing_cells(analysis) -> None:  # noqa: ANN001
    cells = analysis.cells
    counts = cells["status"].value_counts().to_dict()
    n_run = len(METHODS) * len(SIZES) * len(SEEDS)
    assert counts == {"finished": n_run - 1, "missing": len(METHODS) * len(SIZES), "failed": 1}
    failed = cells[cells["status"] == "failed"].iloc[0]
    assert (failed["method"], failed["n_train"], failed["seed"]) == (METHODS[-1], SIZES[-1], 2)
    assert set(cells[cells["status"] == "missing"]["seed"]) == {3}


def test_study_statistics_from_store(analysis) -> None:  # noqa: ANN001
    dm = analysis.delta_summary.set_index(["arm", "n_train"])["mean"]
    assert dm[("stl", 100)] == pytest.approx(0.0)
    assert dm[("aim-matrix", 100)] < 0 < dm[("ls", 100)]  # synthetic effects: 0.9 and 1.05
    ranks = analysis.ranks[analysis.ranks["n_train"] == 100].set_index("arm")["mean_rank"]
    assert ranks["aim-matrix"] < ranks["ls"]
    assert set(analysis.comparisons["baseline"]) == {"ls", "stl"}
    assert analysis.trial_status.set_index("status")["trials"].to_dict() == {
        "FINISHED": 17,
        "FAILED": 1,
    }
