"""A trial of a reference method (`aimstudy.reference`): one fit, scored as one GNN epoch.

It reads the rows `prepare` gives a GNN trial of the same config (so the same molecules train,
select and test), fits once and reports what a GNN trial's epoch reports, through the same
callbacks in the same order: one history row (epoch 1) with the `split_metrics` keys, the loop
metrics (`lr` NaN: there is none) and Δm when `stl_reference` is set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aimstudy import reference
from aimstudy.data import PreparedData, load_dataset, prepare
from aimstudy.train import _checkpoint as ckpt
from aimstudy.train._callbacks import EpochReport, TrialResult, notify
from aimstudy.train._config import TrialConfig
from aimstudy.train._folder import TrialFolder
from aimstudy.train._metrics import check_reference_tasks, delta_m, split_metrics
from aimstudy.train._selection import (
    DELTA_M_METRIC,
    EPOCH,
    EPOCH_SECONDS,
    EVAL_SECONDS,
    LR,
    SPLITS,
    TRAIN_LOSS,
    best_metrics,
)

PARTS = ("train", "guide", "val", "test")  # the parts of PreparedData.rows


def is_reference(method: str) -> bool:
    """Whether `method` names a reference model rather than a gradient (MTL) method."""
    return method in reference.names()


def run_reference_trial(
    config: TrialConfig, workdir: Path, callbacks: Sequence[Any] = ()
) -> TrialResult:
    """Fit the reference method of `config` into `workdir` (a `TrialFolder` without `last.pt`).

    A rerun in the same folder fits again: the fit is deterministic for the seed, so it is the
    resumption too.
    """
    callbacks, folder = list(callbacks), TrialFolder(workdir)
    model = reference.get(config.method, **config.method_options)
    data = prepare(config.dataset, config.n_train, config.guidance_fraction, config.seed)
    names = data.task_names
    check_reference_tasks(config.stl_reference, names)
    workdir.mkdir(parents=True, exist_ok=True)
    folder.write_config(config.model_dump(mode="json"))
    notify(callbacks, "on_start", config, list(data.tasks))
    notify(callbacks, "on_data", data.n_skipped, list(data.skipped_smiles))
    t0 = time.perf_counter()
    X, Y = _features(model, data, config)
    fit = _fit_parts(config, data)
    model.fit(_stack(X, fit), _stack(Y, fit), config.seed, config.threads)
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = {part: model.predict(X[part], config.threads) for part in PARTS}  # [N_part, T]
    metrics = {EPOCH: 1.0, **_scores(config, data, pred, Y)}
    metrics[TRAIN_LOSS] = _train_loss(_stack(pred, fit), _stack(Y, fit), data, config.loss)
    metrics.update({LR: math.nan, EPOCH_SECONDS: fit_s, EVAL_SECONDS: time.perf_counter() - t1})
    history = [metrics]
    state = ckpt.reference_best_state(
        config=config.model_dump(mode="json"),
        name=config.method,
        options=config.method_options,
        model=reference.to_bytes(model),
        tasks=data.tasks,
        metrics=metrics,
    )
    ckpt.save_atomic(state, folder.best_checkpoint)
    folder.write_metrics(history)
    folder.write_policy([])  # no task gradients, so no matrices; the file keeps the folder whole
    notify(callbacks, "on_epoch_end", EpochReport(1, metrics, {}, names))
    notify(callbacks, "on_checkpoint", folder.best_checkpoint, 1)
    result = TrialResult(
        best_epoch=1,
        metrics=best_metrics(history, 1, names, config.method),
        history=history,
        workdir=workdir,
        task_names=names,
    )
    notify(callbacks, "on_end", result)
    return result


def _features(
    model: reference.ReferenceModel, data: PreparedData, config: TrialConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features [N_part, F] and targets [N_part, T] (training units, NaN: no label) per part,
    from the dataset rows `prepare` assigned to it."""
    table = load_dataset(config.dataset, geometry=False)
    X, Y = {}, {}
    for part in PARTS:
        rows = data.rows[part]  # dataset row numbers = positions in the full table
        X[part] = model.featurize([table.smiles[r] for r in rows])[0]
        Y[part] = table.targets[rows]
    return X, Y


def _fit_parts(config: TrialConfig, data: PreparedData) -> list[str]:
    """The training part, plus the guidance part when baselines train on it (as `_Trial` does:
    a reference model never uses guidance itself)."""
    if config.baselines_use_guidance and len(data.guide) > 0:
        return ["train", "guide"]
    return ["train"]


def _stack(arrays: dict[str, np.ndarray], parts: list[str]) -> np.ndarray:
    return np.concatenate([arrays[p] for p in parts], axis=0)


def _scores(
    config: TrialConfig,
    data: PreparedData,
    pred: dict[str, np.ndarray],
    Y: dict[str, np.ndarray],
) -> dict[str, float]:
    """`split_metrics` of every split (train: the training part only, as a GNN trial scores it)
    and Δm% when the config has an STL reference."""
    std = np.asarray(data.scaler.std, dtype=np.float64)  # [T]
    factors = [float(t.report_factor) for t in data.tasks]
    out: dict[str, float] = {}
    for split in SPLITS:
        labelled = ~np.isnan(Y[split])  # [N, T]
        abs_sum = np.where(labelled, np.abs(pred[split] - np.nan_to_num(Y[split])), 0.0).sum(0)
        out.update(split_metrics(split, abs_sum, labelled.sum(0), std, data.task_names, factors))
    if config.stl_reference:
        out[DELTA_M_METRIC] = delta_m(out, config.stl_reference)
    return out


def _train_loss(pred: np.ndarray, Y: np.ndarray, data: PreparedData, kind: str) -> float:
    """The trial's loss on the fitted rows in standardized units, mean over tasks with a label:
    the number a GNN trial reports as train/loss."""
    std = np.asarray(data.scaler.std, dtype=np.float64)  # [T]
    labelled = ~np.isnan(Y)  # [N, T]
    err = np.where(labelled, (pred - np.nan_to_num(Y)) / std, 0.0)  # [N, T]
    per = err**2 if kind == "mse" else np.abs(err)
    count = labelled.sum(0)  # [T]
    losses = per.sum(0)[count > 0] / count[count > 0]
    return float(losses.mean()) if len(losses) else math.nan
