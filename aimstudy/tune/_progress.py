"""Progress of a running study on the console: one line per trial event, a status line at most
every `every_s` seconds, and a line when the tracking server stops (and starts) answering. A
Tune callback, so it lives in the driver."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from ray.tune import Callback

from aimstudy.tracking import check_tracking_uri
from aimstudy.train import DELTA_M_METRIC, SELECTION_METRIC, best_key
from aimstudy.tune._spec import flat_assignment

_SHOWN = (SELECTION_METRIC, best_key(SELECTION_METRIC), DELTA_M_METRIC)
PROBE_EVERY_S = 10.0  # how often a tracking server is asked for /health while trials run
PROBE_TIMEOUT_S = 5.0


class ProgressPrinter(Callback):
    """Prints trial starts, completions, errors and a periodic `done/running/failed` line."""

    def __init__(
        self,
        n_trials: int,
        every_s: float = 30.0,
        stream: TextIO | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        self.n_trials = n_trials
        self.every_s = every_s
        self.stream = stream  # None: sys.stdout when printing (Tune pickles this callback)
        self.done = 0
        self.failed = 0
        self.running: set[str] = set()
        self._last_status = time.monotonic()
        self._t0 = time.monotonic()
        # A tracking server that stops answering blocks every trial inside MLflow's retries,
        # silently: the driver asks it for /health in the background and says so.
        remote = str(tracking_uri).startswith(("http://", "https://"))
        self.server = tracking_uri if remote else None
        self._last_probe = 0.0
        self._unreachable_since: float | None = None
        self._probe: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_probe": None}  # a thread does not pickle

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self.server is None or time.monotonic() - self._last_probe < PROBE_EVERY_S:
            return
        if self._probe is not None and self._probe.is_alive():
            return
        self._last_probe = time.monotonic()
        self._probe = threading.Thread(target=self._probe_server, daemon=True)
        self._probe.start()

    def _probe_server(self) -> None:
        assert self.server is not None
        try:
            check_tracking_uri(self.server, timeout_s=PROBE_TIMEOUT_S)
        except ValueError as exc:
            if self._unreachable_since is None:
                self._unreachable_since = time.monotonic()
                self._print(
                    f"WAIT   {exc}; running trials wait for it (MLflow retries each call for "
                    "minutes): restart it, or Ctrl-C and --resume later"
                )
            return
        if self._unreachable_since is not None:
            away = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            self._print(f"tracking server {self.server} answers again (after {away:.0f} s)")

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self._t0
        print(f"[{elapsed:7.1f}s] {text}", file=self.stream or sys.stdout, flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._print(f"start  {trial.trial_id} {_config(trial.config)}")

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        if time.monotonic() - self._last_status < self.every_s:
            return
        self._last_status = time.monotonic()
        epoch = result.get("epoch")
        self._print(
            f"status {self.done}/{self.n_trials} done, {len(self.running)} running, "
            f"{self.failed} failed; {trial.trial_id} epoch {epoch} {_metrics(result)}"
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.done += 1
        result = trial.last_result or {}
        self._print(
            f"done   {trial.trial_id} [{self.done}/{self.n_trials}] {_config(trial.config)} "
            f"{_metrics(result)}"
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.failed += 1
        self._print(f"FAILED {trial.trial_id} {_config(trial.config)} (after retries)")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"retry  {trial.trial_id} from its last checkpoint")


def _config(config: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in flat_assignment(config or {}).items())


def _metrics(result: dict[str, Any]) -> str:
    shown = [f"{k}={result[k]:.4g}" for k in _SHOWN if isinstance(result.get(k), float)]
    return " ".join(shown)
