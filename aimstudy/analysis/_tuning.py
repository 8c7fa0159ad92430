"""Tuning views for studies searched with Optuna: history, parameter importances, Pareto front.

Reads the Optuna RDB storage a study folder holds (`optuna.db`) and draws with
`optuna.visualization.matplotlib`. A view that cannot be drawn (too few trials, one objective
for a Pareto front) is skipped with its reason, never an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.visualization import matplotlib as ovm

__all__ = ["TuningView", "tuning_summary", "tuning_views"]


@dataclass
class TuningView:
    """One tuning figure (or the reason it is absent) for one Optuna study."""

    study: str
    kind: str  # history | importances | pareto
    figure: Figure | None
    note: str = ""


def _load(storage: str) -> list[optuna.Study]:
    """Every study in the storage; an unreadable storage is a ValueError naming it."""
    try:
        names = optuna.study.get_all_study_names(storage=storage)
    except Exception as exc:  # optuna raises several storage-specific errors
        raise ValueError(f"Optuna storage {storage}: cannot be read ({exc})") from exc
    return [optuna.load_study(study_name=name, storage=storage) for name in names]


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials only."""
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _figure(draw) -> Figure:
    """Run an Optuna matplotlib plot (experimental warnings muted) and return its figure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = draw()
    ax = axes.flat[0] if hasattr(axes, "flat") else axes
    return ax.figure


def _views_of(study: optuna.Study) -> list[TuningView]:
    """History, importances and (multi-objective) Pareto front of one Optuna study."""
    name = study.study_name
    done = _complete(study)
    multi = len(study.directions) > 1
    if not done:
        return [TuningView(name, "history", None, "no completed trial")]
    views = []
    target = (lambda t: t.values[0]) if multi else None
    target_name = "objective 0" if multi else "Objective Value"
    views.append(
        TuningView(
            name,
            "history",
            _figure(
                lambda: ovm.plot_optimization_history(study, target=target, target_name=target_name)
            ),
        )
    )
    params = {k for t in done for k in t.params}
    if len(done) >= 2 and params:
        try:
            views.append(
                TuningView(
                    name,
                    "importances",
                    _figure(
                        lambda: ovm.plot_param_importances(
                            study, target=target, target_name=target_name
                        )
                    ),
                )
            )
        except (ValueError, RuntimeError) as exc:
            views.append(TuningView(name, "importances", None, f"not computable: {exc}"))
    else:
        views.append(TuningView(name, "importances", None, "needs 2+ completed trials with params"))
    if multi:
        views.append(TuningView(name, "pareto", _figure(lambda: ovm.plot_pareto_front(study))))
    return views


def tuning_views(storage: str) -> list[TuningView]:
    """All tuning views of every Optuna study stored at `storage` (an RDB URL)."""
    views: list[TuningView] = []
    for study in _load(storage):
        views += _views_of(study)
    return views


def tuning_summary(storage: str) -> pd.DataFrame:
    """One row per Optuna study: trials by state and the best value(s) and params."""
    records = []
    for study in _load(storage):
        states = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)])
        done = _complete(study)
        best: dict[str, object] = {}
        if done and len(study.directions) == 1:
            best = {"best_value": study.best_value, "best_params": study.best_params}
        elif done:
            best = {"pareto_size": len(study.best_trials)}
        records.append(
            {
                "study": study.study_name,
                "n_trials": len(states),
                **states.value_counts().to_dict(),
                **best,
            }
        )
    return pd.DataFrame(records)
