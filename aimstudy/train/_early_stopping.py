"""Early stopping on a validation value (lower is better), with state that can be saved."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    """Tracks the best epoch; `stopped` once `patience` epochs in a row brought no improvement.

    The first epoch is always the best so far (even with a NaN value, so model selection always
    has a checkpoint); later NaN values never improve. `patience=None` never stops.
    """

    patience: int | None
    best_value: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record `value` of `epoch`; True when it is the new best."""
        best = self.best_value
        improved = self.best_epoch == 0 or (
            math.isfinite(value) and (not math.isfinite(best) or value < best)
        )
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def stopped(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in asdict(self).items() if k != "patience"}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore counters; `patience` stays the current config's, so a resumed trial may
        be given more patience (or more epochs) than the one it continues."""
        self.best_value = float(state["best_value"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
