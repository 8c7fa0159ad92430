"""Short readable labels of trial options: the one rule behind MLflow run names and the report's
arm labels (`aim-matrix λ_g=0`), so a run in the MLflow UI and its arm in a report read alike.

Plain values in: the tune layer names runs with it, analysis labels arms with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Short names for the keys ablations vary most, so labels stay readable in legends and run lists.
SHORT_NAMES = {
    "lambda_g": "λ_g",
    "lambda_m": "λ_m",
    "lambda_p": "λ_p",
    "guide_mode": "guide",
    "guide_reduce": "guide_reduce",
    "guidance_fraction": "h",
    "learn_policy": "learn_τ",
    "tau_init": "τ0",
}
MAX_RUN_NAME = 250  # MLflow keeps longer names, its UI cuts them


def format_value(value: Any) -> str:
    """A value as labels show it: booleans lower-case, floats in `%g` (1e-04 -> 0.0001)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def option_label(key: str, value: Any) -> str:
    """`method_options.lambda_g`, 0.0 -> `λ_g=0`: the last segment of the path, shortened."""
    name = key.rsplit(".", 1)[-1]
    return f"{SHORT_NAMES.get(name, name)}={format_value(value)}"


def run_name(
    method: str,
    options: Iterable[tuple[str, Any]],
    n_train: int | None,
    seed: int,
    suffix: str = "",
) -> str:
    """A trial's run name: its arm (the method, then its other varied options), size and seed,
    e.g. `aim-matrix λ_g=0 n=500 s0`; `suffix` (a trial id) only where names would repeat."""
    size = f"n={n_train}" if n_train is not None else "n=all"  # no n_train: the whole pool
    parts = [method, *(option_label(k, v) for k, v in options), size, f"s{seed}"]
    return " ".join(p for p in [*parts, suffix] if p)[:MAX_RUN_NAME]
