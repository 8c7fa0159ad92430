"""Policy diagnostics: τ / gate heatmaps, their evolution, task dendrograms, seed stability.

Input is the long policy table trials log as `policy/policy.parquet` (columns matrix ∈ {tau,
gate, cosine}, epoch, task_i, task_j, value), gathered over runs by `load_policy` with the run's
arm, size and seed attached.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from aimstudy.analysis._arms import ARM, with_arm
from aimstudy.analysis._checks import STABLE_SPEARMAN, format_spearman
from aimstudy.analysis._curves import _subplots
from aimstudy.analysis._stats import SIZE
from aimstudy.tracking import POLICY_ARTIFACT
from aimstudy.train import POLICY_COLUMNS

__all__ = [
    "POLICY_ARTIFACT",
    "choose_policy_group",
    "group_policy",
    "load_policy",
    "plot_dendrograms",
    "plot_policy_evolution",
    "plot_policy_heatmaps",
    "policy_matrix",
    "seed_stability",
    "select_epochs",
    "stability_of",
    "stability_title",
]

_COLORBAR = {"tau": "τ (cosine threshold)", "gate": "gate (0 = blocked, 1 = open)"}
_WARN = "tab:red"


def _run_keys(size: str) -> list[str]:
    return ["run_id", ARM, "method", size, "seed"]


def load_policy(
    tracking_uri: str, trials: pd.DataFrame, artifact: str = POLICY_ARTIFACT, size: str = SIZE
) -> pd.DataFrame:
    """Download each finished trial's policy Parquet and stack them with the run's keys.

    `trials` needs run_id, arm, method, <size>, seed (one row per run is enough). Runs without
    the artifact are skipped. Columns: run_id, arm, method, <size>, seed, matrix, epoch, task_i,
    task_j, value.
    """
    keys = _run_keys(size)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = trials.drop_duplicates("run_id")
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for _, run in runs.iterrows():
            try:
                local = client.download_artifacts(run["run_id"], artifact, tmp)
            except (MlflowException, OSError):
                continue
            frame = pd.read_parquet(local)
            missing = set(POLICY_COLUMNS) - set(frame.columns)
            if missing:
                raise ValueError(f"{artifact} of run {run['run_id']}: missing columns {missing}")
            for key in keys:
                frame[key] = run.get(key)
            frames.append(frame[[*keys, *POLICY_COLUMNS]])
            Path(local).unlink()
    if not frames:
        return pd.DataFrame(columns=[*keys, *POLICY_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _labels(policy: pd.DataFrame) -> list[str]:
    """Task labels in their order of first appearance."""
    return [str(t) for t in pd.unique(pd.concat([policy["task_i"], policy["task_j"]]))]


def policy_matrix(
    policy: pd.DataFrame, matrix: str, epoch: int | None = None
) -> tuple[list[str], np.ndarray]:
    """One [T, T] matrix averaged over the runs given (at `epoch`, or over all epochs if None).

    The diagonal of `tau` (unused by AIM) is NaN; missing pairs are NaN.
    """
    rows = policy[policy["matrix"] == matrix]
    if epoch is not None:
        rows = rows[rows["epoch"] == epoch]
    labels = _labels(policy)
    index = {name: k for k, name in enumerate(labels)}
    out = np.full((len(labels), len(labels)), np.nan)  # [T, T]
    means = rows.groupby(["task_i", "task_j"])["value"].mean()
    for (ti, tj), value in means.items():
        out[index[str(ti)], index[str(tj)]] = value
    if matrix == "tau":
        np.fill_diagonal(out, np.nan)
    return labels, out


def last_epoch_rows(policy: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows at its own last logged epoch: early stopping ends seeds at different
    epochs, and the study-wide last epoch would hold only the seed that ran longest."""
    key = "run_id" if "run_id" in policy.columns else "seed"
    return policy[policy["epoch"] == policy.groupby(key)["epoch"].transform("max")]


def select_epochs(
    epochs: list[int] | np.ndarray, wanted: tuple[int, ...] = (10, 50, 100)
) -> list[int]:
    """Early, middle and late epochs: the paper's 10/50/100 when all were logged, else the
    first, middle and last logged epoch."""
    available = sorted({int(e) for e in epochs})
    if not available:
        return []
    if all(w in available for w in wanted):
        return list(wanted)
    picks = [available[0], available[len(available) // 2], available[-1]]
    return sorted(set(picks))


def _size_of(policy: pd.DataFrame) -> str:
    """The size column of a `load_policy` table."""
    fixed = {"run_id", ARM, "method", "seed", *POLICY_COLUMNS}
    return next((c for c in policy.columns if c not in fixed), SIZE)


def choose_policy_group(policy: pd.DataFrame) -> tuple[str, object] | None:
    """The (arm, size) to show: a learned τ matrix (prefer the plain `aim-matrix` arm, then any
    matrix arm), smallest size."""
    policy = with_arm(policy)
    tau = policy[policy["matrix"] == "tau"]
    if tau.empty:
        return None
    size = _size_of(policy)
    arms = sorted(tau[ARM].astype(str).unique(), key=lambda a: (len(a.split()), a))
    arm = next((a for a in arms if "matrix" in a), arms[0])
    sizes = tau[tau[ARM].astype(str) == arm][size].unique()
    value = sorted(sizes, key=lambda v: (isinstance(v, str), v))[0]
    return arm, value


def group_policy(policy: pd.DataFrame, arm: str, size_value: object) -> pd.DataFrame:
    """Rows of one arm at one size (all seeds), e.g. the group `choose_policy_group` picks."""
    size, policy = _size_of(policy), with_arm(policy)
    return policy[(policy[ARM].astype(str) == arm) & (policy[size] == size_value)]


def stability_of(stability: pd.DataFrame, arm: str, size_value: object) -> float | None:
    """The `seed_stability` mean Spearman of one arm at one size; None when not measured."""
    if stability is None or stability.empty:
        return None
    size = stability.columns[1]  # seed_stability's columns: arm, <size>, n_seeds, ...
    row = stability[(stability[ARM].astype(str) == str(arm)) & (stability[size] == size_value)]
    value = float(row["mean_spearman"].iloc[0]) if len(row) else float("nan")
    return None if np.isnan(value) else value


def stability_title(policy: pd.DataFrame, stability: float | None) -> tuple[str, bool]:
    """(title, warn) for a policy figure: which arm, size and seeds it averages and how
    reproducible its τ pattern is across seeds; `warn` when below STABLE_SPEARMAN."""
    policy = with_arm(policy)
    size = _size_of(policy)
    arms = ", ".join(sorted(policy[ARM].astype(str).unique())) if ARM in policy else "?"
    sizes = ", ".join(str(v) for v in pd.unique(policy[size])) if size in policy else "?"
    seeds = policy["seed"].nunique() if "seed" in policy else 0
    head = f"{arms} at {size}={sizes}, mean of {seeds} seed{'s' if seeds != 1 else ''}"
    if stability is None:
        return f"{head}; τ seed stability not measured (needs 2 seeds)", False
    rho = format_spearman(stability)
    if stability < STABLE_SPEARMAN:
        return (
            f"{head}\nτ pattern not reproducible across seeds (Spearman {rho}): "
            "do not read task relations from it",
            True,
        )
    return f"{head}; τ seed stability: Spearman {rho} between seeds", False


def _title(fig: Figure, policy: pd.DataFrame, stability: float | None) -> None:
    text, warn = stability_title(policy, stability)
    fig.suptitle(text, fontsize=10, color=_WARN if warn else "black")


def plot_policy_heatmaps(
    policy: pd.DataFrame,
    matrices: tuple[str, ...] = ("tau", "gate"),
    epochs: list[int] | None = None,
    stability: float | None = None,
) -> Figure:
    """Heatmaps of each matrix (rows) at early/middle/late epochs (columns), mean over seeds;
    the title names the arm, size and seeds and carries the τ seed stability (`stability`,
    a mean Spearman from `seed_stability`), in red with a warning below STABLE_SPEARMAN."""
    present = [m for m in matrices if (policy["matrix"] == m).any()]
    if not present:
        raise ValueError(f"policy heatmaps: none of the matrices {matrices} were logged")
    epochs = epochs or select_epochs(policy[policy["matrix"] == present[0]]["epoch"].unique())
    n_tasks = len(_labels(policy))
    size = max(3.0, 0.35 * n_tasks + 1.5)
    fig, axes = _subplots(
        len(present),
        len(epochs),
        figsize=(size * len(epochs), size * len(present) + 0.6),
        squeeze=False,
    )
    for row, matrix in enumerate(present):
        values = policy[policy["matrix"] == matrix]["value"]
        vmin, vmax = (0.0, 1.0) if matrix == "gate" else (float(values.min()), float(values.max()))
        for col, epoch in enumerate(epochs):
            labels, mat = policy_matrix(policy, matrix, epoch)
            ax = axes[row, col]
            image = ax.imshow(
                mat, cmap="viridis" if matrix == "gate" else "coolwarm", vmin=vmin, vmax=vmax
            )
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
            ax.set_xlabel("task j", fontsize=8)
            ax.set_ylabel("task i", fontsize=8)
            ax.set_title(f"{matrix} at epoch {epoch}", fontsize=9)
            bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
            bar.set_label(_COLORBAR.get(matrix, matrix), fontsize=7)
    _title(fig, policy, stability)
    return fig


def plot_policy_evolution(
    policy: pd.DataFrame,
    matrices: tuple[str, ...] = ("tau", "gate"),
    stability: float | None = None,
) -> Figure:
    """Each off-diagonal pair over epochs (thin lines) and their mean (thick), per matrix; the
    title as `plot_policy_heatmaps`."""
    present = [m for m in matrices if (policy["matrix"] == m).any()]
    if not present:
        raise ValueError(f"policy evolution: none of the matrices {matrices} were logged")
    fig, axes = _subplots(1, len(present), figsize=(5.0 * len(present), 4.0), squeeze=False)
    for ax, matrix in zip(axes.flat, present, strict=True):
        rows = policy[(policy["matrix"] == matrix) & (policy["task_i"] != policy["task_j"])]
        per_pair = rows.groupby(["task_i", "task_j", "epoch"])["value"].mean().unstack(level=2)
        for _, series in per_pair.iterrows():
            ax.plot(series.index, series.to_numpy(), color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.plot(
            per_pair.columns,
            per_pair.mean(axis=0).to_numpy(),
            color="black",
            linewidth=2,
            label="mean over pairs",
        )
        ax.set_title(f"{matrix} over training")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_COLORBAR.get(matrix, matrix))
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    _title(fig, policy, stability)
    return fig


def _linkage(distance: np.ndarray) -> np.ndarray:
    """Average-linkage clustering of a symmetric dissimilarity matrix (diagonal set to 0)."""
    d = np.nan_to_num((distance + distance.T) / 2.0, nan=np.nanmax(distance))
    off = d[~np.eye(len(d), dtype=bool)]
    if len(d) > 1 and off.min() < 0:  # τ can be negative: shift (average linkage is shift-proof)
        d = d - off.min()
    np.fill_diagonal(d, 0.0)
    return hierarchy.linkage(squareform(np.clip(d, 0.0, None), checks=False), method="average")


def plot_dendrograms(policy: pd.DataFrame, stability: float | None = None) -> Figure:
    """Task clustering from the learned τ (last epoch; low τ = permissive = close) beside the
    clustering from gradient cosines (mean over epochs; distance 1 − cos); the title as
    `plot_policy_heatmaps` (the τ clustering is only as reproducible as the τ pattern)."""
    panels = []
    if (policy["matrix"] == "tau").any():
        tau_rows = policy[policy["matrix"] == "tau"]
        labels, tau = policy_matrix(last_epoch_rows(tau_rows), "tau")
        title = "learned τ (each seed's last epoch)"
        panels.append((title, labels, tau, "distance: τ, shifted to ≥ 0"))
    if (policy["matrix"] == "cosine").any():
        labels, cos = policy_matrix(policy, "cosine")
        panels.append(("gradient cosine (mean over epochs)", labels, 1.0 - cos, "1 − cosine"))
    panels = [p for p in panels if len(p[1]) >= 2]
    if not panels:
        raise ValueError("dendrograms: need a τ or cosine matrix over at least two tasks")
    fig, axes = _subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, labels, distance, ylabel) in zip(axes.flat, panels, strict=True):
        hierarchy.dendrogram(_linkage(distance), labels=labels, ax=ax, leaf_rotation=90)
        ax.set_title(title)
        ax.set_ylabel(f"{ylabel} (average linkage)", fontsize=8)
    _title(fig, policy, stability)
    return fig


def seed_stability(policy: pd.DataFrame, matrix: str = "tau") -> pd.DataFrame:
    """How reproducible the learned map is: Spearman correlation of the off-diagonal entries at
    each seed's last epoch between every pair of seeds, per arm and size.
    Columns: arm, <size>, n_seeds, mean_spearman, min_spearman."""
    size, policy = _size_of(policy), with_arm(policy)
    columns = [ARM, size, "n_seeds", "mean_spearman", "min_spearman"]
    rows = policy[(policy["matrix"] == matrix) & (policy["task_i"] != policy["task_j"])]
    records = []
    for (arm, size_value), group in rows.groupby([ARM, size]):
        last = last_epoch_rows(group)
        wide = last.pivot_table(index=["task_i", "task_j"], columns="seed", values="value")
        wide = wide.dropna()
        rhos = []
        for a, b in itertools.combinations(wide.columns, 2):
            if wide[a].nunique() > 1 and wide[b].nunique() > 1:
                rhos.append(stats.spearmanr(wide[a], wide[b]).statistic)
        records.append(
            {
                ARM: arm,
                size: size_value,
                "n_seeds": wide.shape[1],
                "mean_spearman": float(np.mean(rhos)) if rhos else float("nan"),
                "min_spearman": float(np.min(rhos)) if rhos else float("nan"),
            }
        )
    return pd.DataFrame(records, columns=columns)
