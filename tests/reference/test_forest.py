"""The fingerprint-rf model on its own: features, options, and one forest per task on its labels."""

from __future__ import annotations

import numpy as np
import pytest

from aimstudy import reference
from aimstudy.commands.list import entries_of
from aimstudy.reference import N_BITS, FingerprintForest, descriptor_names, featurize
from aimstudy.train import TrialConfig, validate_config

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCCCC1N", "OCC(O)CO", "CCN(CC)CC"]


def test_features_are_morgan_counts_then_named_descriptors() -> None:
    names = descriptor_names()
    X, ok = featurize([*SMILES, "not-a-smiles", ""], names)
    assert X.shape == (8, N_BITS + len(names)) and X.dtype == np.float32
    assert ok.tolist() == [True] * 6 + [False, False]
    assert np.isfinite(X).all() and not X[6:].any()  # unreadable rows are zeros
    counts = X[:6, :N_BITS]
    assert (counts == np.round(counts)).all() and counts.max() > 1  # counts, not bits
    weight = X[:6, N_BITS + names.index("MolWt")]
    assert weight[0] == pytest.approx(46.07, abs=0.01)  # ethanol


def test_a_descriptor_this_rdkit_lacks_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"lacks descriptor\(s\) \['NoSuchDescriptor'\]"):
        featurize(SMILES, ["MolWt", "NoSuchDescriptor"])


def test_each_task_is_fitted_on_its_labelled_rows_only() -> None:
    X, _ = featurize(SMILES * 4, descriptor_names())  # [24, F]
    Y = np.full((24, 2), np.nan)
    Y[:, 0] = np.arange(24.0)
    Y[::3, 1] = 5.0  # task 1: 8 labels, all 5; unlabelled rows read as 0 would pull it down
    model = FingerprintForest(n_estimators=10)
    model.fit(X, Y, seed=3)
    pred = model.predict(X)  # [24, 2]
    assert pred.shape == (24, 2)
    assert np.allclose(pred[:, 1], 5.0)
    drawn = [t.tree_.weighted_n_node_samples[0] for t in model.forests[1].estimators_]
    assert set(drawn) == {8.0}  # each bootstrap draws as many rows as the task has labels
    assert model.forests[0].random_state == 3


def test_options_have_defaults_and_are_listed() -> None:
    assert reference.names() == ["fingerprint-rf"]
    assert reference.options("fingerprint-rf") == {
        "n_estimators": 300,
        "min_samples_leaf": 1,
        "max_features": 0.3,
    }
    listed = {e.name: e for e in entries_of("methods")}
    assert listed["fingerprint-rf"].options == reference.options("fingerprint-rf")
    assert "Random forest per task" in listed["fingerprint-rf"].description
    assert "ls" in listed  # beside the gradient methods


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_trees": 5}, r"unknown option\(s\) \['n_trees'\] for reference method"),
        ({"n_estimators": 0}, r"n_estimators: expected an integer >= 1, got 0"),
        ({"n_estimators": True}, r"n_estimators: expected an integer >= 1, got True"),
        ({"min_samples_leaf": 1.5}, r"min_samples_leaf: expected an integer >= 1"),
        ({"max_features": 1.5}, r"max_features: expected a share in \(0, 1\]"),
        ({"max_features": "auto"}, r"max_features: .* got 'auto'"),
    ],
)
def test_a_bad_option_is_one_line_before_any_data(options: dict, message: str) -> None:
    config = TrialConfig(method="fingerprint-rf", method_options=options, device="cpu")
    with pytest.raises(ValueError, match=message) as info:
        validate_config(config)
    assert "\n" not in str(info.value)
