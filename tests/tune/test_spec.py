"""Study specs: every shipped study validates; every kind of bad input names its key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ray import tune

from aimstudy.tune import (
    SpecError,
    StudySpec,
    check_resources,
    flat_assignment,
    load_spec,
    param_space,
)
from aimstudy.tune import validate_spec as _validate

REPO = Path(__file__).resolve().parents[2]
STUDIES = sorted((REPO / "studies").glob("*.yaml"))


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "unit",
        "dataset": {"name": "qm9", "featurizer": "2d", "limit": 100},
        "train": {"model": "gin", "epochs": 2},
        "grid": {"method": ["ls", "aim-matrix"], "n_train": [20, 40], "seed": [0]},
    }
    raw.update(changes)
    return raw


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        _validate(raw)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_shipped_studies_validate(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.n_trials >= 1
    configs = [spec.trial_config(cell) for cell in spec.cells()]
    assert all(c.threads == spec.resources.threads for c in configs)


def test_shipped_studies_cover_the_issue() -> None:
    names = {p.stem for p in STUDIES}
    assert {"quickstart", "qm9-data-efficiency", "qm9-ablation", "qm9-ablation-cpu"} <= names
    assert {"qm9-tune-regularizers", "biogen-adme", "tpd-adme"} <= names
    paper = load_spec(REPO / "studies" / "qm9-data-efficiency.yaml")
    assert paper.grid["method"] == [
        "stl", "ls", "pcgrad", "cagrad", "nashmtl", "famo", "aim-scalar", "aim-matrix"
    ]  # fmt: skip
    assert paper.grid["n_train"] == [10000, 50000, 100000] and len(paper.grid["seed"]) == 3
    assert paper.train["model"] == "mpnn" and paper.resources.gpu > 0
    quick = load_spec(REPO / "studies" / "quickstart.yaml")
    assert quick.train["model"] == "gin" and quick.dataset.limit is not None
    # Three multi-task methods including aim-matrix, plus STL as the reference of Δm%.
    multi_task = [m for m in quick.grid["method"] if m != "stl"]
    assert "aim-matrix" in multi_task and len(multi_task) == 3 and "stl" in quick.grid["method"]
    assert len(quick.grid["n_train"]) == 2 and len(quick.grid["seed"]) == 2
    optuna = load_spec(REPO / "studies" / "qm9-tune-regularizers.yaml")
    assert optuna.tune.search == "optuna" and optuna.tune.scheduler == "asha"


@pytest.mark.parametrize("name", ["qm9-ablation", "qm9-ablation-cpu"])
def test_ablation_studies_cover_the_five_axes(name: str) -> None:
    spec = load_spec(REPO / "studies" / f"{name}.yaml")
    configs = [spec.trial_config(cell) for cell in spec.cells()]
    aim = [c for c in configs if c.method == "aim-matrix"]
    options = [c.method_options for c in aim]
    # 1. policy type: scalar, matrix, frozen τ
    assert {"aim-scalar", "aim-matrix"} <= {c.method for c in configs}
    assert {"learn_policy": False} in options
    # 2. objective: each λ off, a λ scale, the old guide reduction, another guide mode
    for key in ("lambda_g", "lambda_m", "lambda_p"):
        assert {key: 0.0} in options
    assert {"lambda_p": 0.8} in options
    assert {"guide_reduce": "sum"} in options and {"guide_mode": "lookahead"} in options
    # 3. guidance fraction, 4. dataset size
    assert {0.05, 0.1, 0.2} <= {c.guidance_fraction for c in aim}
    assert len({c.n_train for c in configs}) >= 2
    # 5. aggregators on the same data, AIM's own aggregate
    assert {"ls", "pcgrad", "cagrad", "nashmtl", "famo", "stl"} <= {c.method for c in configs}
    assert {"aggregate": "mean"} in options
    assert all(c.method_options == {} for c in configs if not c.method.startswith("aim"))
    assert spec.train["patience"] is not None
    if name == "qm9-ablation":  # the paper protocol
        assert spec.train["model"] == "mpnn" and spec.dataset.featurizer == "3d"
        assert spec.grid["n_train"] == [10000, 50000] and len(spec.grid["seed"]) == 3
    else:  # sized for 2 CPU cores
        assert spec.train["model"] == "gin" and spec.dataset.featurizer == "2d"
        assert spec.dataset.limit is not None and spec.resources.gpu == 0
        assert len(spec.grid["seed"]) == 2 and spec.n_trials <= 80


def test_grid_expands_in_order_and_values_reach_the_trial_config() -> None:
    spec = _validate(_raw(grid={"method": ["ls", "aim-matrix"], "model_options.hidden": [16]}))
    assert spec.cells() == [
        {"method": "ls", "model_options.hidden": 16},
        {"method": "aim-matrix", "model_options.hidden": 16},
    ]
    config = spec.trial_config({"method": "aim-matrix", "method_options.k": 5.0, "seed": 2})
    assert config.method_options == {"k": 5.0} and config.seed == 2
    assert config.device == "cpu" and config.dataset.limit == 100
    space = param_space(spec)
    assert space["method"] == tune.grid_search(["ls", "aim-matrix"])


def test_optuna_space_becomes_ray_distributions() -> None:
    spec = _validate(
        _raw(
            grid={"method": ["aim-matrix"]},
            tune={
                "search": "optuna",
                "space": {
                    "method_options.lambda_m": {"loguniform": [1e-4, 1e-2]},
                    "method_options.lambda_p": {"choice": [0.0, 0.08]},
                },
                "num_samples": 5,
                "scheduler": "asha",
            },
        )
    )
    assert spec.n_trials == 5
    space = param_space(spec)
    assert space["method"] == "aim-matrix"
    assert space["method_options.lambda_m"].lower == pytest.approx(1e-4)
    assert space["method_options.lambda_p"].categories == [0.0, 0.08]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"grdi": {}}, "study: grdi: unknown key; allowed: name, description, dataset"),
        ({"train": {"epochz": 3}}, "train.epochz: unknown key; allowed: method"),
        ({"train": {"lr": "fast"}}, "train.lr: Input should be a valid number"),
        ({"train": {"threads": 2}}, "train.threads: set it through `resources.cpu`"),
        ({"grid": {"method": ["ls", "nope"]}}, "grid.method[1]: unknown method 'nope'; allowed:"),
        ({"grid": {"n_train": [10, 0]}}, "grid.n_train[1]: Input should be greater than"),
        ({"grid": {"seed": []}}, "grid.seed: empty list"),
        ({"grid": {}}, "grid: empty"),
        ({"grid": {"metod": [1]}}, "grid.metod: unknown trial option; allowed:"),
        ({"dataset": {"name": "qm10"}}, "dataset.name: unknown dataset 'qm10'; allowed: qm9"),
        ({"dataset": {"name": "qm9", "limt": 3}}, "dataset.limt: unknown key; allowed: name"),
        ({"resources": {"cpu": 0}}, "resources.cpu: Input should be greater than 0"),
        ({"tune": {"search": "random"}}, "tune.search: Input should be 'grid' or 'optuna'"),
        ({"tune": {"space": {"lr": {"uniform": [1, 2]}}}}, "tune: space: only used with"),
        ({"name": "bad name!"}, "name: String should match pattern"),
    ],
)
def test_bad_specs_name_their_key_path(changes: dict[str, Any], expected: str) -> None:
    assert expected in _error(_raw(**changes))


def test_method_options_are_checked_against_the_method() -> None:
    message = _error(_raw(grid={"method": ["aim-matrix"], "method_options.lambda_x": [1.0]}))
    assert "trial (method='aim-matrix', method_options.lambda_x=1.0)" in message


def test_overrides_and_missing_files(tmp_path: Path) -> None:
    path = REPO / "studies" / "quickstart.yaml"
    spec = load_spec(path, ["train.epochs=3", "grid.seed=[5]", "dataset.limit=300"])
    assert spec.train["epochs"] == 3 and spec.grid["seed"] == [5] and spec.dataset.limit == 300
    with pytest.raises(FileNotFoundError, match="study file .*nothing.yaml not found"):
        load_spec(tmp_path / "nothing.yaml")
    with pytest.raises(FileNotFoundError, match="dataset.path .*missing.csv does not exist"):
        load_spec(REPO / "studies" / "biogen-adme.yaml", [f"dataset.path={tmp_path}/missing.csv"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ngrid: [unclosed\n")
    with pytest.raises(SpecError, match="broken.yaml line 3: not valid YAML"):
        load_spec(broken)


def test_resources_the_cluster_cannot_give() -> None:
    spec = _validate(_raw(resources={"cpu": 4, "gpu": 0.5}))
    with pytest.raises(ValueError, match=r"resources.cpu: a trial needs 4 CPU but only 2 avail"):
        check_resources(spec, {"CPU": 2.0, "GPU": 1.0})
    with pytest.raises(ValueError, match=r"resources.gpu: .* 0.5 GPU but only 0 .*gpu=0"):
        check_resources(spec, {"CPU": 8.0})
    check_resources(spec, {"CPU": 4.0, "GPU": 1.0})


def test_cli_reports_a_spec_error_in_one_line(tmp_path: Path) -> None:
    study = tmp_path / "bad.yaml"
    study.write_text((REPO / "studies" / "quickstart.yaml").read_text() + "\nschedule: asha\n")
    done = subprocess.run(
        [sys.executable, "-m", "aimstudy.cli", "run", str(study), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"aimstudy run: error: {study}: schedule: unknown key; allowed: name, description, "
        "dataset, train, grid, tune, resources, failure, tracking, output, storage"
    ]
    assert not (tmp_path / "o").exists()  # nothing started


def test_spec_is_a_pydantic_model_with_forbidden_extras() -> None:
    assert StudySpec.model_config["extra"] == "forbid"


def test_multi_objective_optuna_with_asha_on_the_first_metric(tmp_path: Path) -> None:
    from aimstudy.tune._tuner import tune_config as _tune_config

    spec = _validate(
        _raw(
            grid={"method": ["aim-matrix"]},
            tune={
                "search": "optuna",
                "space": {"method_options.lambda_p": {"choice": [0.0, 0.08]}},
                "metric": ["val/norm_mae", "val/mae/U0"],
                "mode": "min",
                "num_samples": 4,
                "scheduler": "asha",
            },
        )
    )
    config = _tune_config(spec, f"sqlite:///{tmp_path}/optuna.db", "unit-20250101-000000")
    assert config.search_alg.metric == ["best/val/norm_mae", "best/val/mae/U0"]
    assert config.search_alg._study_name == "unit-20250101-000000"  # one Optuna study a launch
    assert config.scheduler.metric == "val/norm_mae"
    assert config.reuse_actors is False and config.num_samples == 4
    with pytest.raises(SpecError, match="tune: mode: 3 mode"):
        _validate(_raw(tune={"search": "optuna", "space": spec.tune.space, "mode": ["min"] * 3,
                             "metric": ["a", "b"]}))  # fmt: skip


ARMS = [
    {"method": "aim-matrix", "method_options": {"lambda_p": 0.0}},
    {"method": "aim-matrix", "method_options.k": 5.0},
    {"method": "pcgrad"},
]


def test_arms_are_crossed_with_the_other_grid_keys() -> None:
    spec = _validate(_raw(grid={"arms": ARMS, "seed": [0, 1]}))
    assert spec.n_trials == 6
    assert spec.cells()[:2] == [
        {"method": "aim-matrix", "method_options": {"lambda_p": 0.0}, "seed": 0},
        {"method": "aim-matrix", "method_options": {"lambda_p": 0.0}, "seed": 1},
    ]
    assert spec.cells()[-1] == {"method": "pcgrad", "seed": 1}
    # Tune gets one grid_search over whole arms; a trial's config flattens back to options.
    assert param_space(spec)["arms"] == tune.grid_search(ARMS)
    config = spec.trial_config({"arms": ARMS[1], "seed": 1})
    assert (config.method, config.method_options, config.seed) == ("aim-matrix", {"k": 5.0}, 1)
    assert spec.trial_config({"arms": ARMS[2], "seed": 0}).method_options == {}
    assert flat_assignment({"arms": ARMS[2], "seed": 0}) == {"method": "pcgrad", "seed": 0}


def test_a_trial_run_is_named_after_its_arm() -> None:
    from aimstudy.tune._trainable import _run_name

    spec = _validate(_raw(grid={"arms": ARMS, "seed": [0, 1]}))
    names = []
    for arm in ARMS:
        config = {"arms": arm, "seed": 1}
        names.append(_run_name(config, spec.trial_config(config), spec, "abc_00001"))
    assert names == ["aim-matrix λ_p=0 n=all s1", "aim-matrix k=5 n=all s1", "pcgrad n=all s1"]


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"arms": [{"method": "ls"}, [1]]}, "grid.arms[1]: expected a mapping of option: value"),
        ({"arms": ["pcgrad"]}, "grid.arms[0]: expected a mapping"),
        ({"arms": [{"metod": "ls"}]}, "grid.arms[0].metod: unknown trial option; allowed:"),
        ({"arms": [{"seed": 1}], "seed": [0]}, "grid.arms[0].seed: also grid.seed; keep it in"),
        ({"arms": [{"method": "ls"}, {"method": "nope"}]}, "grid.arms[1].method: unknown method"),
        ({"arms": [{"method": "ls", "n_train": 0}]}, "grid.arms[0].n_train: Input should be"),
        (
            {"arms": [{"method": "pcgrad", "method_options": {"lambda_p": 0.0}}]},
            "trial (method='pcgrad', method_options={'lambda_p': 0.0}):",
        ),
    ],
)
def test_bad_arms_name_their_place(grid: dict[str, Any], expected: str) -> None:
    assert expected in _error(_raw(grid=grid))


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"method": ["ls"], "seed": [0, 1, 0]}, "grid.seed[2]: 0 repeats grid.seed[0]; give each"),
        ({"n_train": [20, 20.0]}, "grid.n_train[1]: 20.0 repeats grid.n_train[0]"),
        (
            {"method": ["aim-matrix"], "method_options": [{"lambda_g": 0.0}, {"lambda_g": 0.0}]},
            "grid.method_options[1]: {'lambda_g': 0.0} repeats grid.method_options[0]",
        ),
        ({"arms": [ARMS[2], {"method": "pcgrad"}]}, "grid.arms[1]: {'method': 'pcgrad'} repeats"),
        # different spellings of one trial: train.method is ls, so {} and {method: ls} are one
        ({"arms": [{}, {"method": "ls"}]}, "grid: cell 1 (method='ls') is the same trial as"),
        (
            {"arms": [{"n_train": 20}, {"method": "ls", "n_train": 20}]},
            "grid: cell 1 (method='ls', n_train=20) is the same trial as cell 0; remove one",
        ),
    ],
)
def test_a_repeated_grid_value_or_trial_is_an_error(grid: dict[str, Any], expected: str) -> None:
    assert expected in _error(_raw(train={"model": "gin", "epochs": 2, "method": "ls"}, grid=grid))
