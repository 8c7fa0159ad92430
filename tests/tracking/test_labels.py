"""One labelling rule for MLflow run names and the report's arm labels."""

from __future__ import annotations

import pandas as pd

from aimstudy.analysis._arms import label_arms
from aimstudy.data import DataConfig
from aimstudy.tracking import format_value, option_label, run_name
from aimstudy.tune import StudySpec
from aimstudy.tune._trainable import _run_name


def test_run_name_shows_arm_size_and_seed() -> None:
    options = [("method_options.lambda_g", 0.0), ("guidance_fraction", 0.2)]
    assert run_name("aim-matrix", options, 500, 0) == "aim-matrix λ_g=0 h=0.2 n=500 s0"
    assert run_name("ls", [], 40, 3, "a1b2c") == "ls n=40 s3 a1b2c"
    assert option_label("method_options.learn_policy", False) == "learn_τ=false"
    assert format_value(1e-4) == "0.0001" and format_value(3) == "3"


def test_arm_labels_in_the_report_read_as_run_names() -> None:
    table = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "method": ["aim-matrix", "aim-matrix", "ls"],
            "method_options.lambda_g": [0.0, 1.0, None],
            "n_train": [500, 500, 500],
            "seed": [0, 0, 0],
        }
    )
    labelled, _ = label_arms(table)
    assert list(labelled["arm"]) == ["aim-matrix λ_g=0", "aim-matrix λ_g=1", "ls"]
    # the run of trial "a" starts with its arm's label
    assert run_name("aim-matrix", [("method_options.lambda_g", 0.0)], 500, 0).startswith(
        labelled["arm"][0] + " "
    )


def _spec(**changes: object) -> StudySpec:
    raw: dict = {"name": "names", "dataset": DataConfig(name="qm9"), **changes}
    return StudySpec(**raw)


def test_trial_run_names_leave_out_what_every_trial_shares() -> None:
    spec = _spec(
        grid={
            "method": ["ls", "aim-matrix"],
            "guidance_fraction": [0.1],  # one value: says nothing about the trial
            "n_train": [500],
            "seed": [0, 1],
        }
    )
    config = {"method": "aim-matrix", "guidance_fraction": 0.1, "n_train": 500, "seed": 1}
    trial = spec.trial_config(config)
    assert _run_name(config, trial, spec, "abc_00001") == "aim-matrix n=500 s1"


def test_trial_run_names_show_an_arms_options_and_sampled_values() -> None:
    arms = [{"method": "aim-matrix", "method_options": {"lambda_g": 0.0}}, {"method": "pcgrad"}]
    spec = _spec(grid={"arms": arms, "seed": [0]}, train={"n_train": 100})
    config = {"arms": arms[0], "seed": 0}
    assert _run_name(config, spec.trial_config(config), spec, "t1") == "aim-matrix λ_g=0 n=100 s0"
    repeated = _spec(grid={"method": ["ls"]}, tune={"num_samples": 2})
    config = {"method": "ls"}
    name = _run_name(config, repeated.trial_config(config), repeated, "t_00001")
    assert name.endswith(" t_00001")  # a grid sampled twice: the trial id tells them apart
