"""Params are the flattened trial config with dotted keys (docs/architecture.md)."""

from __future__ import annotations

from aimstudy.data import DataConfig
from aimstudy.tracking import flatten_params
from aimstudy.train import TrialConfig


def test_nested_keys_are_dotted_and_leaves_are_text() -> None:
    flat = flatten_params({"a": 1, "b": {"c": [1, 2], "d": {"e": None}}, "s": "x", "m": {}})
    assert flat == {"a": "1", "b.c": "[1, 2]", "b.d.e": "null", "s": "x", "m": "{}"}


def test_trial_config_gives_the_documented_param_names() -> None:
    config = TrialConfig(
        dataset=DataConfig(name="qm9", limit=10),
        method="aim-matrix",
        method_options={"lambda_m": 0.01},
        n_train=100,
        seed=3,
    )
    flat = flatten_params(config.model_dump(mode="json"))
    assert flat["method"] == "aim-matrix"
    assert flat["n_train"] == "100"
    assert flat["seed"] == "3"
    assert flat["method_options.lambda_m"] == "0.01"
    assert flat["dataset.name"] == "qm9"
    assert flat["dataset.limit"] == "10"
    assert all(len(v) <= 6000 for v in flat.values())
