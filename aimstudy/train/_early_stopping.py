"""Early stopping on a validation value (lower is better), with state that can be saved."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from aimstudy.train._selection import improves


@dataclass
class EarlyStopping:
    """Tracks the best epoch; `stopped` once `patience` epochs in a row brought no improvement.

    Which epoch is better is `_selection.improves` (the rule every reader of a history shares).
    `patience=None` never stops.
    """

    patience: int | None
    best_value: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record `value` of `epoch`; True when it is the new best."""
        improved = improves(value, self.best_value, self.best_epoch)
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
