"""Studies on real Ray and real MLflow: every trial tracked once, crashes retried from their
checkpoint, permanent failures recorded while others finish, Optuna + ASHA in RDB storage."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from aimstudy.tracking import ERROR_TAG, TRIAL_TAG, StudyRuns, child_runs
from aimstudy.tune import StudyOutcome, run_study, validate_spec
from tests.tune._faults import epochs_run
from tests.tune.conftest import tiny_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _by_method(runs: StudyRuns) -> dict[str, object]:
    found = child_runs(runs)
    return {r.data.params.get("method"): r for r in found}


def test_every_trial_is_one_child_run_with_params_metrics_and_artifacts(
    server_study: tuple[StudyOutcome, Path],
) -> None:
    outcome, _ = server_study
    client = MlflowClient(outcome.tracking_uri)
    runs = child_runs(outcome.runs)
    assert len(runs) == 3
    assert len({r.data.tags[TRIAL_TAG] for r in runs}) == 3
    assert set(outcome.table["trial"]) == {r.data.tags[TRIAL_TAG] for r in runs}
    parent = client.get_run(outcome.runs.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["aimstudy.role"] == "study"
    assert parent.data.tags["aimstudy.n_failed"] == "1"
    assert client.get_experiment(outcome.runs.experiment_id).name == "server-study"

    by_method = _by_method(outcome.runs)
    for method in ("ls", "aim-matrix"):
        run = by_method[method]
        assert run.info.status == "FINISHED"
        assert run.data.params["n_train"] == "40" and run.data.params["seed"] == "0"
        assert run.data.params["dataset.name"] == "qm9"
        assert run.data.params["threads"] == "1"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/norm_mae")]
        assert steps == [1, 2, 3]
        assert "best/val/norm_mae" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "metrics.parquet", "policy", "checkpoint"} <= artifacts
        assert _image_steps(client, run.info.run_id, "cosine") == {1, 3}  # chosen + last epoch
        local = client.download_artifacts(run.info.run_id, "policy/policy.parquet")
        policy = pd.read_parquet(local)
        assert {"matrix", "epoch", "task_i", "task_j", "value"} <= set(policy.columns)
        assert "cosine" in set(policy.matrix)  # ls too: conflict is comparable across methods
        assert len(set(policy.task_i)) == 11
    assert 1 in _image_steps(client, by_method["aim-matrix"].info.run_id, "tau")


def _image_steps(client: MlflowClient, run_id: str, matrix: str) -> set[int]:
    """Epochs of a matrix's heatmap series (`log_image(key="policy/<matrix>", step=epoch)`),
    from the file names MLflow gives the series' images: `policy~<matrix>+step+<n>+...`."""
    names = [a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, "images")]
    prefix = f"policy~{matrix}+step+"
    return {int(n[len(prefix) :].split("+", 1)[0]) for n in names if n.startswith(prefix)}


def test_a_crashed_trial_is_retried_from_its_checkpoint(
    server_study: tuple[StudyOutcome, Path],
) -> None:
    outcome, log_dir = server_study
    # The crash came before epoch 2's checkpoint: the retry ran epoch 2 again from epoch 1's,
    # and MLflow's history holds it once (see the test above: steps [1, 2, 3]).
    assert epochs_run(log_dir, "aim-matrix") == [1, 2, 2, 3]
    run = _by_method(outcome.runs)["aim-matrix"]
    assert run.data.tags["aimstudy.attempts"] == "2"
    assert ERROR_TAG not in run.data.tags or run.info.status == "FINISHED"
    row = outcome.table[outcome.table.method == "aim-matrix"].iloc[0]
    assert row.status == "OK" and row.epoch == 3


def test_a_trial_failing_every_retry_is_recorded_failed_while_others_finish(
    server_study: tuple[StudyOutcome, Path],
) -> None:
    outcome, log_dir = server_study
    run = _by_method(outcome.runs)["pcgrad"]
    assert run.info.status == "FAILED"
    assert "injected failure in pcgrad" in run.data.tags[ERROR_TAG]
    assert run.data.tags["aimstudy.attempts"] == "2"  # max_failures=1: one retry
    assert epochs_run(log_dir, "pcgrad") == [1, 1]
    assert outcome.n_failed == 1
    assert list(outcome.errors.values()) == [
        next(iter(outcome.errors.values()))
    ] and "injected failure" in next(iter(outcome.errors.values()))


def test_optuna_search_with_asha_keeps_its_study_in_sqlite(
    ray_session: str, data_cache: Path, tmp_path: Path
) -> None:
    raw = tiny_raw(
        "optuna-study",
        data_cache,
        grid={"method": ["aim-matrix"], "n_train": [40], "seed": [0]},
        tune={
            "search": "optuna",
            "space": {
                "method_options.lambda_m": {"loguniform": [1e-4, 1e-2]},
                "method_options.lambda_p": {"choice": [0.0, 0.08]},
            },
            "num_samples": 2,
            "scheduler": "asha",
            "grace_period": 1,
            "max_concurrent": 2,
            "seed": 7,
        },
    )
    outcome = run_study(validate_spec(raw), tmp_path / "study")
    assert outcome.n_failed == 0
    assert outcome.optuna_storage == f"sqlite:///{tmp_path}/study/optuna.db"
    # one Optuna study per launch, named as the launch (its parent run, its Tune folder)
    assert outcome.ray_path.name.startswith("optuna-study-")
    study = optuna.load_study(study_name=outcome.ray_path.name, storage=outcome.optuna_storage)
    trials = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(trials) == 2
    assert outcome.tracking_uri == f"sqlite:///{tmp_path}/study/mlflow.db"
    runs = child_runs(outcome.runs)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    logged = sorted(float(r.data.params["method_options.lambda_m"]) for r in runs)
    searched = sorted(t.params["method_options.lambda_m"] for t in trials)
    assert logged == pytest.approx(searched)
    assert all(1e-4 <= v <= 1e-2 for v in logged)
    # the objective is each trial's best epoch value, as recorded in MLflow
    best = sorted(r.data.metrics["best/val/norm_mae"] for r in runs)
    assert sorted(t.value for t in trials) == pytest.approx(best)
