"""`Predictor`: a trial's best checkpoint as a model that maps SMILES to physical units."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from aimstudy.data import VERSION_2D, featurize_2d
from aimstudy.models import MultiTaskModel
from aimstudy.train import REFERENCE_KEY, load_checkpoint, load_model, resolve_device

ERROR_COLUMN = "error"  # why a row has no prediction; empty where it has one
DEFAULT_BATCH_SIZE = 256


@dataclass
class Predictor:
    """The best model of a trial with its target scaler and units, as saved in `best.pt`.

    Predictions are in the units the trainer reports its metrics in (`Task.report_unit`:
    training values times `report_factor`), so they compare directly with `test/mae/<task>`.
    """

    model: MultiTaskModel
    tasks: list[dict[str, Any]]  # Task fields: name, unit, report_unit, report_factor, ...
    mean: Tensor  # [T] training units
    std: Tensor  # [T] training units
    device: torch.device
    config: dict[str, Any]  # the TrialConfig that trained it
    epoch: int  # its best epoch

    @classmethod
    def load(cls, path: Path | str, device: str = "auto") -> Predictor:
        """Load `best.pt`; ValueError in one line for another version, a checkpoint that is no
        best model, or a model whose graphs SMILES alone cannot rebuild (3-D)."""
        path = Path(path)
        return cls.from_state(load_checkpoint(path), path, device)

    @classmethod
    def from_state(cls, state: dict[str, Any], path: Path, device: str = "auto") -> Predictor:
        """From a loaded `best.pt` (`path` names it in errors), as `load`."""
        if REFERENCE_KEY in state:
            raise ValueError(f"{path}: a reference model's checkpoint; load it with load_predictor")
        if "model_spec" not in state:
            raise ValueError(f"{path}: not a best-model checkpoint (use checkpoints/best.pt)")
        _check_featurizer(state["featurizer"], path)
        where = resolve_device(device)
        scaler = state["scaler"]
        return cls(
            model=load_model(state).to(where),
            tasks=list(state["tasks"]),
            mean=scaler["mean"].float().to(where),
            std=scaler["std"].float().to(where),
            device=where,
            config=state["config"],
            epoch=int(state["epoch"]),
        )

    @property
    def task_names(self) -> list[str]:
        return [t["name"] for t in self.tasks]

    @property
    def units(self) -> dict[str, str]:
        """{task: unit of its predictions}."""
        return {t["name"]: t["report_unit"] for t in self.tasks}

    def predict(
        self,
        smiles: Sequence[object],
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """One row per SMILES, in order: a float column per task and `error` (None where the
        row was predicted, the reason where it was not: its task values are NaN).

        `progress(n)` is called after each batch with the number of rows it covered.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        values = np.full((len(smiles), len(self.tasks)), np.nan)  # [N, T]
        errors: list[str | None] = [None] * len(smiles)
        for start in range(0, len(smiles), batch_size):
            chunk = smiles[start : start + batch_size]
            graphs, rows = [], []
            for i, (graph, error) in enumerate(map(_graph, chunk), start=start):
                if graph is None:
                    errors[i] = error
                else:
                    graphs.append(graph)
                    rows.append(i)
            if graphs:
                values[rows] = self._predict_graphs(graphs)
            if progress is not None:
                progress(len(chunk))
        frame = pd.DataFrame(values, columns=self.task_names)
        frame[ERROR_COLUMN] = pd.Series(errors, dtype=object)
        return frame

    @torch.no_grad()
    def _predict_graphs(self, graphs: list[Data]) -> np.ndarray:
        """[B, T] in report units, computed as the trainer's evaluation does (float32 model
        output times std plus mean, in training units) and then scaled."""
        batch = Batch.from_data_list(graphs).to(self.device)
        pred = self.model(batch) * self.std + self.mean  # [B, T] training units
        factors = torch.tensor([float(t["report_factor"]) for t in self.tasks], dtype=torch.float64)
        return (pred.double().cpu() * factors).numpy()


def _graph(smiles: object) -> tuple[Data | None, str | None]:
    """The 2-D graph the trainer builds for a SMILES, or None and why there is none."""
    text, error = smiles_text(smiles)
    if text is None:
        return None, error
    graph = featurize_2d(text)
    if graph is None:
        return None, invalid_smiles(text)
    return graph, None


def smiles_text(smiles: object) -> tuple[str | None, str | None]:
    """The stripped SMILES, or None and why a row has none (the `error` column's words)."""
    if not isinstance(smiles, str):
        return None, "missing SMILES"
    text = smiles.strip()
    return (text, None) if text else (None, "empty SMILES")


def invalid_smiles(text: str) -> str:
    """The `error` of a SMILES RDKit cannot read."""
    return f"invalid SMILES {text!r} (RDKit cannot parse it)"


def _check_featurizer(featurizer: dict[str, str], path: Path) -> None:
    """Only 2-D graphs of this aimstudy's featurizer can be built from a SMILES alone."""
    kind, version = featurizer["kind"], featurizer["version"]
    if kind != "2d":
        raise ValueError(
            f"{path}: the model was trained on {kind} graphs ({version}), which need 3-D "
            "geometry; predicting from SMILES needs a model trained with featurizer: 2d"
        )
    if version != VERSION_2D:
        raise ValueError(
            f"{path}: the model was trained on graphs of featurizer {version}; this aimstudy "
            f"builds {VERSION_2D}, so its predictions would not hold; retrain it"
        )
