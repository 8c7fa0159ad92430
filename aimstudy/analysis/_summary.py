"""The plain-language summary that opens a report: what won, by how much, what is not
significant, and the warnings (few seeds, undertrained trials, unstable τ, correlated tasks).

Every sentence comes from a table of `StudyAnalysis`, so the summary never says more than the
tables do; `summary_lines(analysis)` returns it as a list of sentences.
"""

from __future__ import annotations

import math

import pandas as pd

from aimstudy.analysis._analysis import StudyAnalysis
from aimstudy.analysis._arms import ARM
from aimstudy.analysis._checks import (
    ALPHA,
    CORRELATED_SPEARMAN,
    MIN_SEEDS_FOR_INTERVAL,
    STABLE_SPEARMAN,
    UNDERTRAINED_NOTE,
    format_spearman,
)
from aimstudy.analysis._stats import _size_key

__all__ = ["MAX_COMPARISONS", "delta_reference", "summary_lines"]

MAX_COMPARISONS = 12  # comparisons spelled out; the rest are counted (the table has them all)
_POOLED = "all"  # the `<size>` of a comparison pooled over sizes (compare_to_baselines)


def delta_reference(analysis: StudyAnalysis) -> str:
    """What Δm% was computed against (STL unless the study lacks it)."""
    if analysis.deltas.empty or "source" not in analysis.deltas:
        return "STL"
    sources = {str(s).removesuffix("-mean") for s in analysis.deltas["source"]}
    sources = {"STL (logged)" if s == "logged" else s.upper() for s in sources}
    return " / ".join(sorted(sources)) or "STL"


def _reference_arms(analysis: StudyAnalysis) -> set[str]:
    """Arms that are the Δm% reference itself (their Δm% is 0 by construction)."""
    if analysis.deltas.empty or "source" not in analysis.deltas:
        return set()
    return {str(s).removesuffix("-mean") for s in analysis.deltas["source"]} - {"logged"}


def _num(value: float, signed: bool = True) -> str:
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _replicate_line(analysis: StudyAnalysis) -> str:
    m = int(analysis.comparisons["p_value"].notna().sum()) if not analysis.comparisons.empty else 0
    return (
        "The replicate is the seed: each comparison averages the relative MAE difference over "
        "tasks within a seed, then tests those per-seed values against 0 (one-sample t-test, "
        f"95% t-interval over seeds), Holm-corrected over all {m} tested comparisons. Tasks are "
        "not independent replicates."
    )


def _seed_line(analysis: StudyAnalysis) -> str | None:
    """How many seeds there are, and what that allows."""
    summary = analysis.delta_summary
    points = summary if not summary.empty else analysis.curves
    if points.empty:
        return None
    low, high = int(points["n"].min()), int(points["n"].max())
    span = str(low) if low == high else f"{low}–{high}"
    if high < MIN_SEEDS_FOR_INTERVAL:
        return (
            f"Warning: only {span} seeds per arm and {analysis.size_key}: figures show no "
            "interval and t-intervals over seeds are very wide (t = 12.7 at 2 seeds); read "
            "differences as indications, not findings."
        )
    if low < MIN_SEEDS_FOR_INTERVAL:
        return (
            f"Seeds per arm and {analysis.size_key}: {span}; cells below "
            f"{MIN_SEEDS_FOR_INTERVAL} seeds get no interval."
        )
    return f"Seeds per arm and {analysis.size_key}: {span}."


def _best_lines(analysis: StudyAnalysis) -> list[str]:
    """Best arm per size by Δm% (lowest mean) and by mean rank over tasks."""
    size, lines = analysis.size_key, []
    dm, ranks = analysis.delta_summary, analysis.ranks
    sizes = pd.unique(pd.concat([dm.get(size, pd.Series()), ranks.get(size, pd.Series())]))
    reference = delta_reference(analysis)
    for value in sorted(sizes, key=_size_key):
        parts = []
        at = dm[dm[size] == value].dropna(subset=["mean"]) if not dm.empty else dm
        at = at[~at[ARM].astype(str).isin(_reference_arms(analysis))] if len(at) else at
        if len(at):
            best = at.loc[at["mean"].idxmin()]
            found = f"no arm beats {reference}, " if best["mean"] >= 0 else ""
            parts.append(
                f"{found}lowest Δm% {best[ARM]} ({_num(best['mean'])}% vs {reference}, "
                f"{_seeds(int(best['n']))})"
            )
        at = ranks[ranks[size] == value] if not ranks.empty else ranks
        if len(at):
            best = at.loc[at["mean_rank"].idxmin()]
            parts.append(
                f"best mean rank {best[ARM]} ({best['mean_rank']:.2f} over "
                f"{int(best['n_tasks'])} tasks)"
            )
        if parts:
            lines.append(f"At {size}={value}: " + "; ".join(parts) + ".")
    return lines


def _verdict(row: pd.Series) -> str:
    n = int(row["n_seeds"])
    if math.isnan(row["p_holm"]):
        return f"no test ({_seeds(n)}" + (", no spread between seeds)" if n > 1 else ")")
    p = f"p={row['p_holm']:.2g} (Holm)"
    if row["p_holm"] < ALPHA:
        better = "better" if row["mean_rel_diff_pct"] < 0 else "worse"
        return f"{p}: significant, {row[ARM]} {better}"
    return f"{p}: not significant with {_seeds(n)}"


def _comparison(row: pd.Series, size: str) -> str:
    where = "pooled over sizes" if str(row[size]) == _POOLED else f"at {size}={row[size]}"
    effect = f"{_num(row['mean_rel_diff_pct'])}%"
    if not math.isnan(row["ci_low"]):
        effect += f" (95% CI {_num(row['ci_low'])} to {_num(row['ci_high'])})"
    return f"{where}, {row[ARM]} vs {row['baseline']}: {effect}, {_verdict(row)}."


def _comparison_lines(analysis: StudyAnalysis, limit: int = MAX_COMPARISONS) -> list[str]:
    """Each AIM arm vs each baseline: effect, CI, Holm p and the verdict; most significant
    first, at most `limit` spelled out."""
    table = analysis.comparisons
    if table.empty:
        return ["No AIM arm could be compared with a baseline (no shared task x seed pairs)."]
    ordered = table.sort_values("p_holm", na_position="last", kind="stable")
    size = analysis.size_key
    shown = ordered.head(limit).sort_values(
        size, key=lambda s: s.map(_size_key), kind="stable"
    )  # the most significant, read size by size (pooled last)
    lines = [
        "Relative MAE difference, arm vs baseline (negative favours the arm):",
        *(_comparison(row, size) for _, row in shown.iterrows()),
    ]
    rest = ordered.iloc[limit:]
    if len(rest):
        significant = int((rest["p_holm"] < ALPHA).sum())
        lines.append(
            f"... and {len(rest)} more comparisons ({significant} significant): see the table "
            "'AIM vs baselines'."
        )
    return lines


def _undertrained_line(analysis: StudyAnalysis) -> str | None:
    table = analysis.undertrained
    if table.empty:
        return None
    hit = table[table["at_last_epoch"] > 0]
    total, peaked = int(table["finished"].sum()), int(table["at_last_epoch"].sum())
    if hit.empty:
        return f"No finished trial had its best epoch at its last ({total} trials checked)."
    arms = ", ".join(f"{r[ARM]} {r['at_last_epoch']}/{r['finished']}" for _, r in hit.iterrows())
    return (
        f"Warning: {peaked} of {total} finished trials had their best epoch at their last epoch "
        f"({arms}): {UNDERTRAINED_NOTE}."
    )


def _stability_lines(analysis: StudyAnalysis) -> list[str]:
    table = analysis.stability
    if table.empty:
        return []
    size = table.columns[1]
    unstable = table[table["mean_spearman"] < STABLE_SPEARMAN]
    return [
        f"Warning: τ pattern of {r[ARM]} at {size}={r[size]} not reproducible across seeds "
        f"(Spearman {format_spearman(r['mean_spearman'])}): do not read task relations from it."
        for _, r in unstable.iterrows()
    ]


def _correlated_lines(analysis: StudyAnalysis) -> list[str]:
    return [
        f"Tasks {', '.join(group)} move together (Spearman ≥ {CORRELATED_SPEARMAN:g} across "
        f"trials of the same {analysis.size_key}): they are not independent evidence."
        for group in analysis.correlated
    ]


def summary_lines(analysis: StudyAnalysis) -> list[str]:
    """The report's opening summary, one sentence per item: replicate and seeds, best arm per
    size, every AIM-vs-baseline comparison with its verdict, then the warnings."""
    lines = [_replicate_line(analysis)]
    lines += [line for line in (_seed_line(analysis),) if line]
    lines += _best_lines(analysis)
    lines += _comparison_lines(analysis)
    lines += [line for line in (_undertrained_line(analysis),) if line]
    lines += _stability_lines(analysis)
    lines += _correlated_lines(analysis)
    return lines
