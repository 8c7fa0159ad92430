"""best.pt is self-contained (scaler, tasks and units, featurizer, model spec, versions), an
incompatible version is one line, and a resumed stl trial keeps the same per-task members."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from aimstudy import __version__
from aimstudy.data import prepare
from aimstudy.train import run_trial
from aimstudy.train._checkpoint import CHECKPOINT_VERSION, load
from tests.predict.conftest import TinyStudy, tiny_config


def test_best_checkpoint_holds_what_predicting_needs(study: TinyStudy) -> None:
    trial = study.trials["stl"]
    saved = load(trial.workdir / "checkpoints" / "best.pt")
    config = trial.config
    data = prepare(config.dataset, config.n_train, config.guidance_fraction, config.seed)
    assert saved["version"] == CHECKPOINT_VERSION and saved["aimstudy_version"] == __version__
    assert saved["tasks"] == [dataclasses.asdict(t) for t in data.tasks]
    assert torch.equal(saved["scaler"]["mean"], data.scaler.mean)
    assert torch.equal(saved["scaler"]["std"], data.scaler.std)
    assert saved["featurizer"] == {"kind": "2d", "version": "2d-v1"}
    assert saved["model_spec"] == {
        "name": "gin",
        "options": {"hidden": 16, "layers": 2},
        "node_dim": data.node_dim,
        "edge_dim": data.edge_dim,
        "n_tasks": 3,
        "ensemble": True,
    }
    assert saved["config"] == config.model_dump(mode="json")


def test_another_checkpoint_version_is_one_line(study: TinyStudy, tmp_path: Path) -> None:
    saved = torch.load(study.trials["ls"].workdir / "checkpoints" / "best.pt", weights_only=False)
    torch.save({**saved, "version": 1, "aimstudy_version": "0.0.9"}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"checkpoint version 1 \(aimstudy 0\.0\.9\)") as info:
        load(tmp_path / "old.pt")
    assert "\n" not in str(info.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load(tmp_path / "junk.pt")


def test_a_resumed_stl_trial_saves_the_same_best_members(cache: Path, tmp_path: Path) -> None:
    run_trial(tiny_config(cache, "stl", epochs=5), tmp_path / "straight")
    run_trial(tiny_config(cache, "stl", epochs=2), tmp_path / "resumed")
    run_trial(tiny_config(cache, "stl", epochs=5), tmp_path / "resumed")
    a = load(tmp_path / "straight" / "checkpoints" / "best.pt")
    b = load(tmp_path / "resumed" / "checkpoints" / "best.pt")
    assert a["member_epochs"] == b["member_epochs"] and a["epoch"] == b["epoch"]
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
