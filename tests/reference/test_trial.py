"""A fingerprint-rf trial through `run_trial`: the rows, metrics, files and hooks of a GNN trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aimstudy import reference
from aimstudy.data import DataConfig, load_dataset, prepare
from aimstudy.predict import ERROR_COLUMN, ReferencePredictor, load_predictor
from aimstudy.train import (
    DELTA_M_METRIC,
    REFERENCE_KEY,
    TRIAL_FILES,
    TrialConfig,
    TrialFolder,
    load_checkpoint,
    run_trial,
)

RF = {"method": "fingerprint-rf", "method_options": {"n_estimators": 12}}
GNN = {"model": "gin", "model_options": {"hidden": 16, "layers": 1}, "epochs": 1, "batch_size": 16}
TIMES = ("time/epoch_s", "time/eval_s")


class Hooks:
    """Records the order of the trainer's hooks (steps left out: a forest has none)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, hook: str) -> Any:
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        return lambda *args: hook == "on_step_end" or self.calls.append(hook)


def _forests(workdir: Path) -> reference.ReferenceModel:
    state = load_checkpoint(TrialFolder(workdir).best_checkpoint)
    return reference.from_bytes(state[REFERENCE_KEY]["model"])


def test_metrics_files_and_hooks_are_those_of_a_gnn_trial(
    tiny_qm9: dict[str, Any], tmp_path: Path
) -> None:
    gnn_hooks, rf_hooks = Hooks(), Hooks()
    gnn = run_trial({**tiny_qm9, "method": "ls", **GNN}, tmp_path / "gnn", [gnn_hooks])
    rf = run_trial({**tiny_qm9, **RF}, tmp_path / "rf", [rf_hooks])
    assert rf_hooks.calls == gnn_hooks.calls
    assert rf_hooks.calls == ["on_start", "on_data", "on_epoch_end", "on_checkpoint", "on_end"]
    gnn_keys = {k for k in gnn.history[0] if not k.startswith("policy/")}
    assert set(rf.history[0]) == gnn_keys
    assert set(rf.metrics) == set(gnn.metrics)
    assert rf.best_epoch == 1 and rf.metrics["best/epoch"] == 1.0
    scores = {k: v for k, v in rf.history[0].items() if k.split("/")[0] in ("train", "val", "test")}
    assert all(np.isfinite(v) for v in scores.values())
    assert rf.history[0]["val/norm_mae"] < 1.0  # better than predicting the training mean
    folder = TrialFolder(tmp_path / "rf")
    assert folder.present() == [f for f in TRIAL_FILES if not f.endswith("last.pt")]
    assert folder.read_history()[0]["test/norm_mae"] == rf.history[0]["test/norm_mae"]


def test_the_same_seed_fits_the_same_forests(tiny_qm9: dict[str, Any], tmp_path: Path) -> None:
    first = run_trial({**tiny_qm9, **RF, "seed": 4}, tmp_path / "a")
    again = run_trial({**tiny_qm9, **RF, "seed": 4}, tmp_path / "b")
    scores = {k: v for k, v in first.history[0].items() if k not in TIMES}
    assert scores == {k: v for k, v in again.history[0].items() if k not in TIMES}
    assert _forests(tmp_path / "a").forests[0].random_state == 4


@pytest.mark.parametrize("with_guidance", [False, True])
def test_sparse_tasks_fit_on_their_labelled_training_rows(
    sparse_biogen: dict[str, Any], tmp_path: Path, with_guidance: bool
) -> None:
    config = {**sparse_biogen, **RF, "guidance_fraction": 0.2}
    config["baselines_use_guidance"] = with_guidance
    run_trial(config, tmp_path)
    cfg = DataConfig.model_validate(config["dataset"])
    data = prepare(cfg, None, 0.2, 0)
    rows = np.concatenate([data.rows["train"], data.rows["guide"] if with_guidance else []])
    labels = ~np.isnan(load_dataset(cfg, geometry=False).targets[rows.astype(int)])  # [N, T]
    assert not labels.all(), "the slice must have missing labels"
    model = _forests(tmp_path)
    for t, forest in enumerate(model.forests):
        drawn = {tree.tree_.weighted_n_node_samples[0] for tree in forest.estimators_}
        assert drawn == {float(labels[:, t].sum())}, data.task_names[t]


def test_its_best_model_predicts_the_test_mae_it_reported(
    sparse_biogen: dict[str, Any], tmp_path: Path
) -> None:
    result = run_trial({**sparse_biogen, **RF}, tmp_path)
    predictor = load_predictor(TrialFolder(tmp_path).best_checkpoint)
    assert isinstance(predictor, ReferencePredictor) and predictor.epoch == 1
    cfg = DataConfig.model_validate(sparse_biogen["dataset"])
    table, data = load_dataset(cfg, geometry=False), prepare(cfg, None, 0.1, 0)
    test = data.rows["test"]
    pred = predictor.predict([table.smiles[r] for r in test], batch_size=7)
    for t, task in enumerate(data.tasks):
        truth = table.targets[test, t] * task.report_factor
        labelled = ~np.isnan(truth)
        mae = np.abs(pred[task.name].to_numpy()[labelled] - truth[labelled]).mean()
        assert mae == pytest.approx(result.metrics[f"best/test/mae/{task.name}"], rel=1e-9)
    odd = predictor.predict(["CCO", "C1CC", None])
    assert odd[ERROR_COLUMN].tolist()[0] is None and odd.iloc[0, :-1].notna().all()
    assert "invalid SMILES 'C1CC'" in odd[ERROR_COLUMN][1] and odd.iloc[1, :-1].isna().all()
    assert odd[ERROR_COLUMN][2] == "missing SMILES"


def test_delta_m_against_an_stl_reference(tiny_qm9: dict[str, Any], tmp_path: Path) -> None:
    ref = {"mu": 0.5, "alpha": 2.0}
    result = run_trial({**tiny_qm9, **RF, "stl_reference": ref}, tmp_path)
    row = result.history[0]
    expected = np.mean([(row[f"test/mae/{t}"] - v) / v for t, v in ref.items()]) * 100
    assert row[DELTA_M_METRIC] == pytest.approx(expected)


def test_a_gnn_checkpoint_in_the_folder_is_another_trial(
    tiny_qm9: dict[str, Any], tmp_path: Path
) -> None:
    run_trial({**tiny_qm9, "method": "ls", **GNN}, tmp_path)
    with pytest.raises(ValueError, match=r"different trial config \(fields \['method'"):
        run_trial(TrialConfig.model_validate({**tiny_qm9, **RF, **GNN}), tmp_path)
    assert "model_spec" in load_checkpoint(TrialFolder(tmp_path).best_checkpoint)  # untouched
