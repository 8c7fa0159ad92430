"""Checks that keep a report honest at a few seeds: when an interval means something, which
trials stopped improving only because training ended, and which tasks are near-duplicates.

The thresholds live here, so figures, tables and the summary all apply the same ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from aimstudy.analysis._arms import ARM
from aimstudy.analysis._stats import SIZE, finished
from aimstudy.train import is_reference

__all__ = [
    "ALPHA",
    "CORRELATED_SPEARMAN",
    "MIN_SEEDS_FOR_INTERVAL",
    "STABLE_SPEARMAN",
    "UNDERTRAINED_NOTE",
    "correlated_groups",
    "format_spearman",
    "interval_label",
    "task_correlation",
    "trial_epochs",
    "undertrained",
    "with_interval_note",
]

ALPHA = 0.05  # significance level for Holm-adjusted p-values
MIN_SEEDS_FOR_INTERVAL = 3  # with 2 seeds t(0.975, 1) = 12.7: the "interval" covers everything
STABLE_SPEARMAN = 0.5  # below: the τ pattern is not reproducible across seeds
CORRELATED_SPEARMAN = 0.9  # at or above: two tasks' MAEs move together across trials
MIN_TRIALS_FOR_CORRELATION = 4  # trials of one size needed before a task correlation counts
UNDERTRAINED_NOTE = "undertrained: raise epochs"
_LAST_EPOCH = "metric:epoch"  # the trainer logs `epoch` every epoch: its latest = last run
_EPOCHS = "epochs"  # the trial config's epoch budget (a param)


def format_spearman(value: float) -> str:
    """Two decimals, three where two would round onto the STABLE_SPEARMAN threshold (so a
    0.499 flagged as unstable never prints as 0.50)."""
    return f"{value:.3f}" if round(value, 2) == STABLE_SPEARMAN else f"{value:.2f}"


def interval_label(n: int) -> str:
    """How the interval over `n` seeds is made, or why there is none."""
    if n >= MIN_SEEDS_FOR_INTERVAL:
        return f"95% t-interval over {n} seeds"
    return f"none: {n} seed{'s' if n != 1 else ''} (needs ≥ {MIN_SEEDS_FOR_INTERVAL})"


def with_interval_note(summary: pd.DataFrame) -> pd.DataFrame:
    """A `summarize` table with an `interval` column saying how ci_low/ci_high were made; the
    interval is blanked below MIN_SEEDS_FOR_INTERVAL seeds rather than shown uselessly wide."""
    out = summary.copy()
    if out.empty:
        return out.assign(interval=pd.Series(dtype=str))
    few = out["n"] < MIN_SEEDS_FOR_INTERVAL
    out.loc[few, ["ci_low", "ci_high"]] = np.nan
    out["interval"] = out["n"].map(interval_label)
    return out


def trial_epochs(table: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per finished trial: run_id, arm, best_epoch, last_epoch, at_last.

    The last epoch is the last one logged (`epoch` metric of the run), else the config's
    `epochs`; the logged one wins because a resumed trial may have been given more epochs than
    its params say. `at_last` is NaN-safe False where either epoch is unknown, as it is for a
    reference method's trial (`fingerprint-rf`: one fit, no epochs).
    """
    columns = ["run_id", ARM, "best_epoch", "last_epoch", "at_last"]
    if table.empty or "status" not in table.columns:
        return pd.DataFrame(columns=columns)
    trials = table[table["status"] == "FINISHED"].drop_duplicates("run_id").copy()
    last = pd.Series(np.nan, index=trials.index)
    if _EPOCHS in trials.columns:
        last = pd.to_numeric(trials[_EPOCHS], errors="coerce")
    if runs is not None and not runs.empty and _LAST_EPOCH in runs.columns:
        logged = runs.set_index("run_id")[_LAST_EPOCH]
        from_log = pd.to_numeric(trials["run_id"].map(logged), errors="coerce")
        last = from_log.fillna(last)
    if "method" in trials.columns:  # a reference model is fitted once: no epochs to raise
        last[trials["method"].astype(str).map(is_reference).astype(bool)] = np.nan
    trials["last_epoch"] = last.astype(float)
    best = trials["best_epoch"] if "best_epoch" in trials.columns else np.nan
    trials["best_epoch"] = pd.to_numeric(best, errors="coerce")
    trials["at_last"] = trials["best_epoch"] >= trials["last_epoch"]  # False where unknown
    if ARM not in trials.columns:
        trials[ARM] = trials.get("method", "?")
    return trials[columns].reset_index(drop=True)


def undertrained(table: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per arm: how many finished trials had their best epoch at their last epoch (still
    improving when training stopped). Columns: arm, finished, at_last_epoch, note."""
    epochs = trial_epochs(table, runs)
    known = epochs[epochs["best_epoch"].notna() & epochs["last_epoch"].notna()]
    if known.empty:
        return pd.DataFrame(columns=[ARM, "finished", "at_last_epoch", "note"])
    out = known.groupby(ARM, as_index=False).agg(
        finished=("run_id", "nunique"), at_last_epoch=("at_last", "sum")
    )
    out["at_last_epoch"] = out["at_last_epoch"].astype(int)
    out["note"] = np.where(out["at_last_epoch"] > 0, UNDERTRAINED_NOTE, "")
    return out


def task_correlation(table: pd.DataFrame, split: str = "test", size: str = SIZE) -> pd.DataFrame:
    """Task x task Spearman correlation of the MAE across finished trials of one size, averaged
    over the sizes with at least MIN_TRIALS_FOR_CORRELATION trials. Sizes are kept apart, since
    every MAE falls with more data and pooling them would make any two tasks look alike."""
    rows = finished(table, split, size)
    mats = []
    for _, group in rows.groupby(size):
        wide = group.pivot_table(index="run_id", columns="task", values="mae")
        if len(wide) >= MIN_TRIALS_FOR_CORRELATION:
            mats.append(wide.corr(method="spearman", min_periods=MIN_TRIALS_FOR_CORRELATION))
    if not mats:
        return pd.DataFrame()
    tasks = [str(t) for t in pd.unique(rows["task"])]
    stack = np.stack([m.reindex(index=tasks, columns=tasks).to_numpy(dtype=float) for m in mats])
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stack, axis=0) if np.isfinite(stack).any() else stack[0]
    return pd.DataFrame(mean, index=tasks, columns=tasks)


def correlated_groups(
    correlation: pd.DataFrame, threshold: float = CORRELATED_SPEARMAN
) -> list[list[str]]:
    """Groups of tasks (two or more) in which every pair has Spearman ≥ `threshold`
    (complete-linkage clustering, so a group never chains dissimilar tasks together)."""
    if correlation.shape[0] < 2:
        return []
    rho = np.nan_to_num(correlation.to_numpy(dtype=float), nan=-1.0)
    distance = np.clip(1.0 - (rho + rho.T) / 2.0, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.linkage(squareform(distance, checks=False), method="complete")
    labels = hierarchy.fcluster(tree, t=1.0 - threshold + 1e-12, criterion="distance")
    names = [str(t) for t in correlation.index]
    members = list(zip(names, labels, strict=True))
    groups = [[n for n, k in members if k == c] for c in sorted(set(labels))]
    return [g for g in groups if len(g) > 1]
