"""Data-efficiency curves: metric against the size key (log axis), one line per arm.

Figures use the Agg backend and are returned as matplotlib `Figure`s; `save_figure` writes them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from aimstudy.analysis._arms import ARM
from aimstudy.analysis._stats import SIZE, finished, summarize

__all__ = ["data_efficiency", "plot_data_efficiency", "save_figure"]

_POINT_COLUMNS = ["metric", ARM, "mean", "std", "n", "ci_low", "ci_high"]


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float], squeeze: bool = False):  # noqa: ANN202
    """Figure and axes without pyplot: no global backend or figure registry is touched, so the
    library works headless, in threads and in notebooks alike."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG (creating folders); pyplot-made figures (Optuna's) are closed."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def data_efficiency(
    table: pd.DataFrame,
    deltas: pd.DataFrame | None = None,
    split: str = "test",
    size: str = SIZE,
) -> pd.DataFrame:
    """Curve points: per task (and `Δm%` from `deltas`), arm and size, mean ± 95% CI over
    seeds. Columns: metric, arm, <size>, mean, std, n, ci_low, ci_high."""
    rows = finished(table, split, size)
    keys = [ARM, size]
    per_seed = rows.groupby(["task", *keys, "seed"], as_index=False)["mae"].mean()
    parts = [summarize(per_seed, "mae", ["task", *keys]).rename(columns={"task": "metric"})]
    if deltas is not None and not deltas.empty:
        per_seed_dm = deltas.groupby([*keys, "seed"], as_index=False)["delta_m"].mean()
        dm = summarize(per_seed_dm, "delta_m", keys)
        dm.insert(0, "metric", "Δm%")
        parts.append(dm)
    parts = [p for p in parts if not p.empty]
    columns = [*_POINT_COLUMNS[:2], size, *_POINT_COLUMNS[2:]]
    if not parts:
        return pd.DataFrame(columns=columns)
    points = pd.concat(parts, ignore_index=True)[columns]
    order = {name: k for k, name in enumerate([*pd.unique(rows["task"]), "Δm%"])}
    return points.sort_values("metric", key=lambda m: m.map(order), kind="stable").reset_index(
        drop=True
    )


def _numeric(values: pd.Series) -> bool:
    """Whether every n_train value is a positive number (so a log axis makes sense)."""
    return bool(pd.to_numeric(values, errors="coerce").gt(0).all())


def size_column(points: pd.DataFrame) -> str:
    """The size key of `data_efficiency` points: the one column that is not a point column."""
    extra = [c for c in points.columns if c not in _POINT_COLUMNS]
    return extra[0] if extra else SIZE


def _draw(ax: Axes, points: pd.DataFrame, title: str, ylabel: str) -> None:
    """One panel: a line per arm with a shaded 95% interval."""
    size = size_column(points)
    log_x = _numeric(points[size])
    for method, line in points.groupby(ARM, sort=True):
        line = line.copy()
        line["x"] = pd.to_numeric(line[size]) if log_x else line[size].astype(str)
        line = line.sort_values("x")
        ax.plot(line["x"], line["mean"], marker="o", label=str(method))
        if line["ci_low"].notna().any():
            ax.fill_between(line["x"], line["ci_low"], line["ci_high"], alpha=0.2)
    if log_x:
        sizes = sorted(pd.to_numeric(points[size]).unique())
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{v:,.0f}" for v in sizes])  # label the sizes actually run
        ax.minorticks_off()
    ax.set_title(title)
    ax.set_xlabel(size)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def plot_data_efficiency(points: pd.DataFrame, units: dict[str, str] | None = None) -> Figure:
    """A grid of panels, one per task and one for Δm%, from `data_efficiency` output."""
    metrics = list(pd.unique(points["metric"])) if not points.empty else []
    if not metrics:
        raise ValueError("data-efficiency curves: no finished trial with a test MAE to plot")
    metrics = [m for m in metrics if m != "Δm%"] + (["Δm%"] if "Δm%" in metrics else [])
    cols = min(4, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = _subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        unit = (units or {}).get(metric, "")
        ylabel = "Δm% (lower is better)" if metric == "Δm%" else f"test MAE {unit}".strip()
        _draw(ax, points[points["metric"] == metric], str(metric), ylabel)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle("Data efficiency: mean over seeds, 95% CI")
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
