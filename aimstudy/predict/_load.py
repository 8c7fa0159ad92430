"""`load_predictor`: the predictor of any trial's `best.pt`, a GNN's or a reference model's."""

from __future__ import annotations

from pathlib import Path

from aimstudy.predict._predictor import Predictor
from aimstudy.predict._reference import ReferencePredictor
from aimstudy.train import REFERENCE_KEY, load_checkpoint

AnyPredictor = Predictor | ReferencePredictor


def load_predictor(path: Path | str, device: str = "auto") -> AnyPredictor:
    """`ReferencePredictor` for a reference trial's checkpoint, else a `Predictor` (with
    `Predictor.load`'s ValueErrors); `device` is a GNN's (reference models run on the CPU)."""
    path = Path(path)
    state = load_checkpoint(path)
    if REFERENCE_KEY in state:
        return ReferencePredictor.from_state(state, path)
    return Predictor.from_state(state, path, device)
