"""Checkpoints: everything a trial needs to continue exactly where it stopped (`last.pt`), and
everything a chemist needs to predict with its best model and no dataset (`best.pt`).

`best.pt` (a dict, `best_state`): `version`, `aimstudy_version`, `config` (the TrialConfig),
`epoch` (the best epoch), `model` (state dict) and `model_spec` (how to rebuild it, `build`),
`tasks` (name, units, report factor of each), `task_names`, `scaler` (mean and std [T] in
training units), `featurizer` (kind and version), `metrics` (the best epoch's row) and, for
`stl`, `member_epochs` (the epoch each task's member comes from).

A reference trial (`aimstudy.reference`, e.g. `fingerprint-rf`) writes a `best.pt` of the same
version without `model`/`model_spec`/`scaler`: `reference` holds the method's name, options and
the fitted model as compressed bytes (`reference_best_state`); there is no `last.pt` (a rerun
fits again, deterministically).
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aimstudy import __version__
from aimstudy.data import VERSION_2D, VERSION_3D, Standardizer, Task
from aimstudy.models import MultiTaskModel, SingleTaskEnsemble, build_model

# 2: best.pt carries model spec, tasks, scaler and featurizer (1 held only config and weights).
CHECKPOINT_VERSION = 2
FEATURIZER_VERSIONS = {"2d": VERSION_2D, "3d": VERSION_3D}


def rng_state() -> dict[str, Any]:
    """Global RNG states of python, numpy, torch (and CUDA when present)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """One seed for python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """torch.save through a temporary file and a rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by this module (on CPU; the trainer moves tensors).

    ValueError in one line for a file that is no checkpoint or one of another version.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    version = state.get("version") if isinstance(state, dict) else None
    if version != CHECKPOINT_VERSION:
        writer = state.get("aimstudy_version") if isinstance(state, dict) else None
        written = f" (aimstudy {writer})" if writer else ""
        raise ValueError(
            f"{path}: checkpoint version {version!r}{written} is not supported by aimstudy "
            f"{__version__}, which reads version {CHECKPOINT_VERSION}; retrain the trial"
        )
    return state


def model_spec(
    name: str, options: Mapping[str, Any], node_dim: int, edge_dim: int, n_tasks: int, stl: bool
) -> dict[str, Any]:
    """How to rebuild a trial's model: the registered backbone, its options and input sizes;
    `stl`: one single-task backbone per task (`SingleTaskEnsemble`)."""
    return {
        "name": name,
        "options": dict(options),
        "node_dim": int(node_dim),
        "edge_dim": int(edge_dim),
        "n_tasks": int(n_tasks),
        "ensemble": bool(stl),
    }


def build(spec: Mapping[str, Any]) -> MultiTaskModel:
    """The (untrained) model a `model_spec` describes."""
    name, opts = spec["name"], spec["options"]
    dims = (spec["node_dim"], spec["edge_dim"])
    if spec["ensemble"]:
        members = [build_model(name, *dims, 1, **opts) for _ in range(spec["n_tasks"])]
        return SingleTaskEnsemble(members)
    return build_model(name, *dims, spec["n_tasks"], **opts)


def best_state(
    *,
    config: dict[str, Any],
    epoch: int,
    model: dict[str, torch.Tensor],
    spec: dict[str, Any],
    tasks: Sequence[Task],
    scaler: Standardizer,
    featurizer: str,
    metrics: dict[str, float],
    member_epochs: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The content of `best.pt` (see the module docstring)."""
    return {
        "version": CHECKPOINT_VERSION,
        "aimstudy_version": __version__,
        "config": config,
        "epoch": int(epoch),
        "model": model,
        "model_spec": spec,
        "tasks": [dataclasses.asdict(t) for t in tasks],
        "task_names": [t.name for t in tasks],
        "scaler": scaler.state_dict(),
        "featurizer": {"kind": featurizer, "version": FEATURIZER_VERSIONS[featurizer]},
        "metrics": metrics,
        "member_epochs": member_epochs,
    }


REFERENCE_KEY = "reference"  # in a reference trial's best.pt: {name, options, model (bytes)}


def reference_best_state(
    *,
    config: dict[str, Any],
    name: str,
    options: Mapping[str, Any],
    model: bytes,
    tasks: Sequence[Task],
    metrics: dict[str, float],
) -> dict[str, Any]:
    """The content of a reference trial's `best.pt` (epoch 1: its one fit)."""
    return {
        "version": CHECKPOINT_VERSION,
        "aimstudy_version": __version__,
        "config": config,
        "epoch": 1,
        REFERENCE_KEY: {"name": name, "options": dict(options), "model": model},
        "tasks": [dataclasses.asdict(t) for t in tasks],
        "task_names": [t.name for t in tasks],
        "metrics": metrics,
    }


def load_model(state: Mapping[str, Any]) -> MultiTaskModel:
    """The best model of a loaded `best.pt`, weights in place, in eval mode (on CPU)."""
    model = build(state["model_spec"])
    model.load_state_dict(state["model"])
    return model.eval()
