"""`aimstudy train`: flags and YAML into a TrialConfig, files in --out, one-line errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from aimstudy.cli import build_parser, main
from aimstudy.commands.train import build_config


@pytest.fixture(autouse=True)
def _cache(graph_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMSTUDY_CACHE_DIR", str(graph_cache))


@pytest.fixture(autouse=True)
def _one_thread_after() -> Iterator[None]:
    """`aimstudy train` sets torch's threads for the process; later tests expect one."""
    yield
    torch.set_num_threads(1)


TINY = ["--dataset", "qm9", "--limit", "80", "--val-size", "12", "--test-size", "12"]


def test_train_writes_config_metrics_policy_and_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "trial.yaml"
    config.write_text(yaml.safe_dump({"epochs": 5, "batch_size": 16, "lr": 0.002}))
    out = tmp_path / "out"
    argv = ["train", "--config", str(config), *TINY, "--method", "aim-scalar", "--n-train", "40"]
    argv += ["--epochs", "2", "--model", "gin", "--model-option", "hidden=16", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["epochs"] == 2  # the flag wins over the file
    assert resolved["lr"] == 0.002 and resolved["batch_size"] == 16  # the file fills the rest
    assert resolved["model_options"] == {"hidden": 16}
    assert resolved["dataset"]["featurizer"] == "2d"  # gin is a 2-D backbone
    assert resolved["threads"] == len(os.sched_getaffinity(0))  # one trial: every core
    assert len(pd.read_parquet(out / "metrics.parquet")) == 2
    assert set(pd.read_parquet(out / "policy.parquet")["matrix"]) >= {"tau", "gate"}
    assert (out / "checkpoints" / "best.pt").exists()
    assert "best epoch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope"], "method: unknown name 'nope'"),
        (["--model-option", "widht=3"], "unknown option(s) ['widht']"),
        (["--method-option", "k"], "--method-option: expected KEY=VALUE"),
        (["--lr", "-1"], "lr: Input should be greater than 0"),
    ],
)
def test_bad_options_are_one_line_errors(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", *TINY, "--model", "gin", "--n-train", "40", "--out", str(tmp_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "checkpoints").exists()


def test_threads_default_to_every_usable_core_and_the_flag_wins() -> None:
    def threads(*extra: str) -> int:
        args = build_parser().parse_args(["train", *TINY, "--out", "x", *extra])
        return build_config(args).threads

    assert threads() == len(os.sched_getaffinity(0))
    assert threads("--threads", "1") == 1
