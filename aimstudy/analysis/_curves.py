"""Data-efficiency curves: metric against the size key (log axis), one line per arm.

Honest at a few seeds: every seed is a point (arms shifted a little along x so they do not hide
each other), the line is the mean over seeds, and the band (95% t-interval over seeds) is drawn
only from MIN_SEEDS_FOR_INTERVAL seeds on and never below zero MAE; each figure's title says how
it was made. Axes carry units (the task's MAE unit, % for Δm%, the size key spelled out). Many
arms are split into figures of at most MAX_ARMS lines, each repeating the baselines.

Figures are made without pyplot and returned as matplotlib `Figure`s; `save_figure` writes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from aimstudy.analysis._arms import ARM, SIZE_KEYS
from aimstudy.analysis._checks import MIN_SEEDS_FOR_INTERVAL
from aimstudy.analysis._stats import SIZE, finished, summarize
from aimstudy.analysis._units import display_unit

__all__ = [
    "DELTA",
    "MAX_ARMS",
    "arm_colors",
    "arm_groups",
    "curve_caption",
    "data_efficiency",
    "data_efficiency_figures",
    "plot_data_efficiency",
    "plot_delta_m",
    "save_figure",
    "seed_points",
    "size_label",
]

DELTA = "Δm%"  # the `metric` of the Δm% curve in `data_efficiency` points
MAX_ARMS = 8  # lines per figure before arms are split into groups
SIZE_LABELS = {SIZE_KEYS[0]: "training molecules", SIZE_KEYS[1]: "molecules in the dataset pool"}
_POINT_COLUMNS = ["metric", ARM, "mean", "std", "n", "ci_low", "ci_high"]
_SEED_COLUMNS = ["metric", ARM, "seed", "value"]
_SHIFT_DECADES = 0.012  # x shift between neighbouring arms on a log axis
_SHIFT_CATEGORY = 0.05  # the same on a categorical axis (sizes 1 apart)


def _subplots(
    nrows: int, ncols: int, figsize: tuple[float, float], squeeze: bool = False, **kwargs
):
    """Figure and axes without pyplot: no global backend or figure registry is touched, so the
    library works headless, in threads and in notebooks alike. Constrained layout keeps titles,
    colorbars and a legend outside the panels from overlapping them."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG (creating folders); pyplot-made figures (Optuna's) are closed."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def size_label(size: str) -> str:
    """The x-axis label of a size key: `training molecules (n_train)`."""
    return f"{SIZE_LABELS[size]} ({size})" if size in SIZE_LABELS else size


def _order_metrics(frame: pd.DataFrame, tasks: Iterable[object]) -> pd.DataFrame:
    """Rows in task order of the results table, Δm% last."""
    order = {name: k for k, name in enumerate([*pd.unique(pd.Series(list(tasks))), DELTA])}
    return frame.sort_values("metric", key=lambda m: m.map(order), kind="stable").reset_index(
        drop=True
    )


def seed_points(
    table: pd.DataFrame,
    deltas: pd.DataFrame | None = None,
    split: str = "test",
    size: str = SIZE,
) -> pd.DataFrame:
    """One value per task (and `Δm%` from `deltas`), arm, size and seed: the points the curves
    draw and average. Columns: metric, arm, <size>, seed, value."""
    rows = finished(table, split, size)
    keys = [ARM, size, "seed"]
    mae = rows.groupby(["task", *keys], as_index=False)["mae"].mean()
    parts = [mae.rename(columns={"task": "metric", "mae": "value"})]
    if deltas is not None and not deltas.empty:
        dm = deltas.groupby(keys, as_index=False)["delta_m"].mean()
        dm = dm.rename(columns={"delta_m": "value"})
        dm.insert(0, "metric", DELTA)
        parts.append(dm)
    columns = [*_SEED_COLUMNS[:2], size, *_SEED_COLUMNS[2:]]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=columns)
    return _order_metrics(pd.concat(parts, ignore_index=True)[columns], rows["task"])


def data_efficiency(
    table: pd.DataFrame,
    deltas: pd.DataFrame | None = None,
    split: str = "test",
    size: str = SIZE,
) -> pd.DataFrame:
    """Curve points: per task (and `Δm%` from `deltas`), arm and size, mean ± 95% CI over
    seeds. Columns: metric, arm, <size>, mean, std, n, ci_low, ci_high."""
    seeds = seed_points(table, deltas, split, size)
    columns = [*_POINT_COLUMNS[:2], size, *_POINT_COLUMNS[2:]]
    if seeds.empty:
        return pd.DataFrame(columns=columns)
    points = summarize(seeds, "value", ["metric", ARM, size])[columns]
    return _order_metrics(points, [m for m in pd.unique(seeds["metric"]) if m != DELTA])


def _numeric(values: pd.Series) -> bool:
    """Whether every size value is a positive number (so a log axis makes sense)."""
    return bool(pd.to_numeric(values, errors="coerce").gt(0).all())


def size_column(points: pd.DataFrame) -> str:
    """The size key of `data_efficiency` points: the one column that is not a point column."""
    extra = [c for c in points.columns if c not in _POINT_COLUMNS]
    return extra[0] if extra else SIZE


def arm_colors(arms: Iterable[str]) -> dict[str, tuple[float, ...]]:
    """One colour per arm, the same in every figure of a report."""
    names = sorted({str(a) for a in arms})
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {arm: cmap(k % cmap.N) for k, arm in enumerate(names)}


def arm_groups(
    arms: Iterable[str], baselines: Iterable[str] = (), max_arms: int = MAX_ARMS
) -> list[list[str]]:
    """Arms in groups of at most `max_arms`, one figure each; every group repeats the baselines
    so each AIM arm is seen beside them. One group when everything fits."""
    names = sorted({str(a) for a in arms})
    if len(names) <= max_arms:
        return [names]
    base = [a for a in names if a in set(baselines)]
    rest = [a for a in names if a not in set(baselines)]
    room = max_arms - len(base)
    if room < 2:  # too many baselines to repeat: plain chunks
        base, rest, room = [], names, max_arms
    step = math.ceil(len(rest) / math.ceil(len(rest) / room))  # balanced: 13 in 3 groups of 5, 5, 3
    return [base + rest[k : k + step] for k in range(0, len(rest), step)]


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"{low}" if low == high else f"{low}–{high}"


def curve_caption(points: pd.DataFrame, with_seeds: bool = True, clip: bool = True) -> str:
    """How the curves were made: seeds averaged, what the points are, what the band is."""
    n = points["n"]
    parts = [f"line = mean of {_span(n)} seeds"]
    if with_seeds:
        parts.append("points = seeds")
    if n.max() < MIN_SEEDS_FOR_INTERVAL:
        parts.append(f"no interval: {_span(n)} seeds")
    else:
        where = "" if n.min() >= MIN_SEEDS_FOR_INTERVAL else f" where ≥ {MIN_SEEDS_FOR_INTERVAL}"
        clipped = ", clipped at 0" if clip else ""
        parts.append(f"band = 95% t-interval over seeds{where}{clipped}")
    return "; ".join(parts)


def _x_axis(values: pd.Series) -> tuple[bool, list[object]]:
    """(log axis?, the sizes in axis order)."""
    if _numeric(values):
        return True, sorted(pd.to_numeric(values).unique())
    return False, sorted(values.astype(str).unique())


def _x(values: pd.Series, log_x: bool, sizes: list[object], shift: float) -> np.ndarray:
    """Axis positions of size values, shifted by `shift` (decades on a log axis)."""
    if log_x:
        return pd.to_numeric(values).to_numpy(dtype=float) * 10.0**shift
    index = {v: k for k, v in enumerate(sizes)}
    return values.astype(str).map(index).to_numpy(dtype=float) + shift


def _shift(k: int, n: int, log_x: bool) -> float:
    return (k - (n - 1) / 2.0) * (_SHIFT_DECADES if log_x else _SHIFT_CATEGORY)


def _band(ax: Axes, line: pd.DataFrame, color: object, clip: bool) -> None:
    """The 95% t-band of one arm where it has MIN_SEEDS_FOR_INTERVAL seeds (clipped at 0 when
    `clip`): shaded between neighbouring sizes that both have one, a bar at a size alone."""
    low = line["ci_low"].clip(lower=0.0) if clip else line["ci_low"]
    valid = ((line["n"] >= MIN_SEEDS_FOR_INTERVAL) & line["ci_low"].notna()).to_numpy()
    beside = np.zeros_like(valid)
    beside[1:] |= valid[:-1]
    beside[:-1] |= valid[1:]
    shaded, alone = valid & beside, valid & ~beside
    if shaded.any():
        ax.fill_between(line["x"], low, line["ci_high"], where=shaded, color=color, alpha=0.15)
    if alone.any():
        ax.vlines(line["x"][alone], low[alone], line["ci_high"][alone], color=color, alpha=0.35)


def _draw(
    ax: Axes,
    points: pd.DataFrame,
    seeds: pd.DataFrame | None,
    colors: dict[str, tuple[float, ...]],
    clip: bool,
) -> None:
    """One panel: per arm the seeds as points, their mean as a line and, from
    MIN_SEEDS_FOR_INTERVAL seeds on, the 95% t-band (clipped at 0 when `clip`)."""
    size = size_column(points)
    log_x, sizes = _x_axis(points[size])
    arms = sorted(points[ARM].astype(str).unique())
    for k, arm in enumerate(arms):
        shift, color = _shift(k, len(arms), log_x), colors.get(arm)
        line = points[points[ARM].astype(str) == arm]
        line = line.assign(x=_x(line[size], log_x, sizes, shift)).sort_values("x")
        ax.plot(line["x"], line["mean"], color=color, linewidth=1.6, label=arm)
        _band(ax, line, color, clip)
        if seeds is not None:
            own = seeds[seeds[ARM].astype(str) == arm]
            x = _x(own[size], log_x, sizes, shift)
            ax.scatter(x, own["value"], s=12, color=color, alpha=0.75, linewidths=0, zorder=3)
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{v:,.0f}" for v in sizes])  # label the sizes actually run
        ax.minorticks_off()
    else:
        ax.set_xticks(range(len(sizes)), [str(v) for v in sizes])
    ax.set_xlabel(size_label(size))
    ax.grid(True, which="both", alpha=0.3)


def _legend(fig: Figure, axes: Iterable[Axes]) -> None:
    """One legend below every panel (never over them), one entry per arm."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        ncol = min(4, len(entries))
        fig.legend(
            list(entries.values()), list(entries), loc="outside lower center", ncol=ncol,
            frameon=False, fontsize=8,
        )  # fmt: skip


def _mae_label(unit: str) -> str:
    return f"test MAE ({display_unit(unit)})" if unit else "test MAE (unit not recorded)"


def _delta_label(reference: str) -> str:
    return f"Δm% vs {reference} (%, lower is better)"


def _of(frame: pd.DataFrame | None, metric: str, arms: list[str] | None = None) -> pd.DataFrame:
    if frame is None:
        return None
    rows = frame[frame["metric"] == metric]
    return rows if arms is None else rows[rows[ARM].astype(str).isin(arms)]


def _panels(n: int, max_cols: int, panel: tuple[float, float], **kwargs: object):  # noqa: ANN202
    """A grid of `n` panels, at most `max_cols` wide, each `panel` inches (room for the title
    and legend added); panels past `n` are hidden."""
    cols = min(max_cols, n)
    nrows = math.ceil(n / cols)
    size = (panel[0] * cols, panel[1] * nrows + 0.8)
    fig, axes = _subplots(nrows, cols, figsize=size, **kwargs)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_data_efficiency(
    points: pd.DataFrame,
    units: dict[str, str] | None = None,
    seeds: pd.DataFrame | None = None,
    colors: dict[str, tuple[float, ...]] | None = None,
    reference: str = "STL",
    title: str = "Data efficiency",
) -> Figure:
    """A grid of panels, one per task (test MAE in its unit) and one for Δm% if the points have
    it, from `data_efficiency` output; `seeds` (`seed_points`) adds each seed as a point."""
    metrics = list(pd.unique(points["metric"])) if not points.empty else []
    if not metrics:
        raise ValueError("data-efficiency curves: no finished trial with a test MAE to plot")
    metrics = [m for m in metrics if m != DELTA] + ([DELTA] if DELTA in metrics else [])
    colors = colors or arm_colors(points[ARM].astype(str))
    fig, axes = _panels(len(metrics), max_cols=4, panel=(4.2, 3.4))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        is_delta = metric == DELTA
        _draw(ax, _of(points, metric), _of(seeds, metric), colors, clip=not is_delta)
        ax.set_title(str(metric))
        unit = (units or {}).get(str(metric), "")
        ax.set_ylabel(_delta_label(reference) if is_delta else _mae_label(unit))
    fig.suptitle(f"{title}\n{curve_caption(points, seeds is not None)}", fontsize=10)
    _legend(fig, axes.flat)
    return fig


def plot_delta_m(
    points: pd.DataFrame,
    seeds: pd.DataFrame | None = None,
    groups: list[list[str]] | None = None,
    colors: dict[str, tuple[float, ...]] | None = None,
    reference: str = "STL",
) -> Figure:
    """Δm% against the size key, a panel per group of arms (shared y axis), a dashed line at 0."""
    rows = _of(points, DELTA)
    if rows.empty:
        raise ValueError("Δm% curves: no Δm% was computed")
    groups = groups or arm_groups(rows[ARM].astype(str))
    colors = colors or arm_colors(rows[ARM].astype(str))
    fig, axes = _panels(len(groups), max_cols=3, panel=(5.0, 3.8), sharey=True)
    for k, (ax, group) in enumerate(zip(axes.flat, groups, strict=False)):
        _draw(ax, _of(points, DELTA, group), _of(seeds, DELTA, group), colors, clip=False)
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylabel(_delta_label(reference))
        if len(groups) > 1:
            ax.set_title(f"arms, group {k + 1} of {len(groups)}", fontsize=9)
    caption = curve_caption(rows, seeds is not None, clip=False)
    fig.suptitle(f"Δm% vs {reference} (mean over tasks)\n{caption}", fontsize=10)
    _legend(fig, axes.flat)
    return fig


def data_efficiency_figures(
    points: pd.DataFrame,
    seeds: pd.DataFrame | None = None,
    units: dict[str, str] | None = None,
    baselines: Iterable[str] = (),
    reference: str = "STL",
    max_arms: int = MAX_ARMS,
) -> dict[str, Figure]:
    """The report's curves by name: test MAE per task (`data_efficiency`, or `data_efficiency_k`
    per group of at most `max_arms` arms, each with the baselines) and Δm% (`delta_m`)."""
    tasks = points[points["metric"] != DELTA] if not points.empty else points
    if tasks.empty:
        raise ValueError("data-efficiency curves: no finished trial with a test MAE to plot")
    colors = arm_colors(points[ARM].astype(str))
    groups = arm_groups(points[ARM].astype(str), baselines, max_arms)
    figures: dict[str, Figure] = {}
    for k, group in enumerate(groups, start=1):
        name = "data_efficiency" if len(groups) == 1 else f"data_efficiency_{k}"
        part = f" (arms, group {k} of {len(groups)})" if len(groups) > 1 else ""
        figures[name] = plot_data_efficiency(
            tasks[tasks[ARM].astype(str).isin(group)],
            units,
            None if seeds is None else seeds[seeds[ARM].astype(str).isin(group)],
            colors,
            reference,
            title=f"Test MAE against training set size{part}",
        )
    if (points["metric"] == DELTA).any():
        figures["delta_m"] = plot_delta_m(points, seeds, groups, colors, reference)
    return figures
