"""Statistics over the tidy results table: Δm% against STL, mean ranks, paired tests.

All functions take the table of `results_table` (one row per trial x task x split) and use only
finished trials. Lower MAE is better throughout, so a negative Δm or relative difference means
the method beats its reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "compare_to_baselines",
    "delta_m",
    "holm",
    "mean_ranks",
    "rank_biserial",
    "summarize",
]

_KEYS = ["method", "n_train", "seed"]


def finished(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Rows of finished trials on one split with a MAE; missing n_train/seed become one group."""
    if table.empty or "split" not in table.columns:
        return pd.DataFrame(columns=[*_KEYS, "run_id", "task", "mae"])
    rows = table[(table["status"] == "FINISHED") & (table["split"] == split)]
    rows = rows[rows["mae"].notna()].copy()
    for key, default in (("n_train", "all"), ("seed", 0)):
        if key not in rows.columns:
            rows[key] = default
    return rows


def _task_mae(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean MAE per method x n_train x seed x task (averaging repeated configurations)."""
    return rows.groupby([*_KEYS, "task"], as_index=False, dropna=False)["mae"].mean()


def delta_m(table: pd.DataFrame, split: str = "test", reference: str = "stl") -> pd.DataFrame:
    """Δm% of each finished trial against the STL reference.

    Δm = mean_t (MAE_t − MAE_t^ref) / MAE_t^ref × 100 over the tasks both have. The reference is
    the `reference` method's runs at the same n_train and seed (`source=<reference>`), else the
    mean of its seeds at that n_train (`<reference>-mean`), else the trial's logged
    `best/test/delta_m` metric (`logged`) when the table carries a `delta_m_logged` column.
    Columns: run_id, method, n_train, seed, delta_m, n_tasks, source.
    """
    rows = finished(table, split)
    if rows.empty:
        return pd.DataFrame(columns=["run_id", *_KEYS, "delta_m", "n_tasks", "source"])
    ref = rows[rows["method"] == reference]
    by_seed = ref.groupby(["n_train", "seed", "task"])["mae"].mean()
    by_size = ref.groupby(["n_train", "task"])["mae"].mean()
    records = []
    for run_id, run in rows.groupby("run_id", sort=False):
        first = run.iloc[0]
        key = (first["n_train"], first["seed"])
        record = {"run_id": run_id, **{k: first[k] for k in _KEYS}}
        exact = [by_seed.get((*key, t)) for t in run["task"]]
        mean = [by_size.get((key[0], t)) for t in run["task"]]
        for source, refs in ((reference, exact), (f"{reference}-mean", mean)):
            if refs and all(r is not None and r > 0 for r in refs):
                rel = (run["mae"].to_numpy() - np.asarray(refs)) / np.asarray(refs)
                records.append(
                    {
                        **record,
                        "delta_m": 100.0 * rel.mean(),
                        "n_tasks": len(refs),
                        "source": source,
                    }
                )
                break
        else:
            logged = first.get("delta_m_logged", np.nan)
            if pd.notna(logged):
                records.append(
                    {
                        **record,
                        "delta_m": float(logged),
                        "n_tasks": run["task"].nunique(),
                        "source": "logged",
                    }
                )
    return pd.DataFrame(records, columns=["run_id", *_KEYS, "delta_m", "n_tasks", "source"])


def summarize(frame: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean, std, n and the 95% t-interval of `value` per group (interval NaN for n < 2)."""

    def _one(values: pd.Series) -> pd.Series:
        x = values.dropna().to_numpy(dtype=float)
        n = len(x)
        mean = x.mean() if n else np.nan
        std = x.std(ddof=1) if n > 1 else np.nan
        half = stats.t.ppf(0.975, n - 1) * std / np.sqrt(n) if n > 1 else np.nan
        return pd.Series(
            {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}
        )

    if frame.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "n", "ci_low", "ci_high"])
    out = frame.groupby(by, dropna=False)[value].apply(_one).unstack().reset_index()
    out["n"] = out["n"].astype(int)
    return out


def mean_ranks(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Mean rank of each method over tasks at each n_train (1 = lowest MAE, ties averaged).

    Methods are ranked per task on their MAE averaged over seeds (scipy `rankdata`, method
    `average`). Columns: n_train, method, mean_rank, n_tasks.
    """
    rows = finished(table, split)
    if rows.empty:
        return pd.DataFrame(columns=["n_train", "method", "mean_rank", "n_tasks"])
    per_task = rows.groupby(["n_train", "task", "method"], as_index=False)["mae"].mean()
    per_task["rank"] = per_task.groupby(["n_train", "task"])["mae"].transform(
        lambda s: stats.rankdata(s.to_numpy(), method="average")
    )
    out = per_task.groupby(["n_train", "method"], as_index=False).agg(
        mean_rank=("rank", "mean"), n_tasks=("task", "nunique")
    )
    return out.sort_values(["n_train", "mean_rank"]).reset_index(drop=True)


def holm(pvalues: list[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given; NaN stays NaN and is not counted).

    p_adj(i) = max_{j <= i} min(1, (m − j + 1) p_(j)) over the ascending order of the m p-values.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for j, index in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[index]))
        out[index] = running
    return out


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (W+ − W−) / (W+ + W−), zero differences dropped.

    Ranges from −1 (every pair negative) to +1; with d = method − baseline MAE, −1 means the
    method is better on every pair.
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return float("nan")
    ranks = stats.rankdata(np.abs(d))
    positive, negative = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((positive - negative) / (positive + negative))


def _paired(rows: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Task x seed pairs where both methods have a MAE, at each n_train."""
    mae = _task_mae(rows)
    left = mae[mae["method"] == a].drop(columns="method")
    right = mae[mae["method"] == b].drop(columns="method")
    return left.merge(right, on=["n_train", "seed", "task"], suffixes=("_a", "_b"))


def _test(pairs: pd.DataFrame) -> dict[str, float]:
    """Wilcoxon signed-rank on relative differences plus effect sizes for one comparison."""
    rel = ((pairs["mae_a"] - pairs["mae_b"]) / pairs["mae_b"]).to_numpy()
    nonzero = rel[rel != 0]
    if len(nonzero) >= 1:
        result = stats.wilcoxon(rel, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        statistic, p_value = float("nan"), float("nan")
    return {
        "n_pairs": len(rel),
        "wins": int((rel < 0).sum()),
        "losses": int((rel > 0).sum()),
        "median_rel_diff_pct": float(np.median(rel) * 100.0) if len(rel) else float("nan"),
        "rank_biserial": rank_biserial(rel),
        "statistic": statistic,
        "p_value": p_value,
    }


def _size_key(value: object) -> tuple[bool, object]:
    """Sort n_train numerically, with any text label (e.g. `all`) last."""
    return (isinstance(value, str), value if not isinstance(value, str) else 0)


def compare_to_baselines(
    table: pd.DataFrame,
    split: str = "test",
    aim_prefix: str = "aim",
    pooled: bool = True,
) -> pd.DataFrame:
    """AIM vs each baseline: paired Wilcoxon signed-rank over task x seed pairs, Holm-corrected.

    Differences are relative, (MAE_aim − MAE_base) / MAE_base, so tasks in different units weigh
    alike. One comparison per AIM method x baseline x n_train (plus `n_train=all` pooling sizes
    when `pooled`). Holm runs over every row of the returned table. Columns: method, baseline,
    n_train, n_pairs, wins, losses, median_rel_diff_pct, rank_biserial, statistic, p_value,
    p_holm. Negative median difference / rank-biserial favour AIM.
    """
    rows = finished(table, split)
    columns = [
        "method",
        "baseline",
        "n_train",
        "n_pairs",
        "wins",
        "losses",
        "median_rel_diff_pct",
        "rank_biserial",
        "statistic",
        "p_value",
        "p_holm",
    ]
    methods = sorted(rows["method"].dropna().unique(), key=str) if not rows.empty else []
    aims = [m for m in methods if str(m).startswith(aim_prefix)]
    baselines = [m for m in methods if not str(m).startswith(aim_prefix)]
    records = []
    for aim in aims:
        for base in baselines:
            pairs = _paired(rows, aim, base)
            groups = [
                (size, pairs[pairs["n_train"] == size])
                for size in sorted(pairs["n_train"].unique(), key=_size_key)
            ]
            if pooled and len(groups) > 1:
                groups.append(("all", pairs))
            for size, group in groups:
                if len(group):
                    records.append(
                        {"method": aim, "baseline": base, "n_train": size, **_test(group)}
                    )
    out = pd.DataFrame(records, columns=columns[:-1])
    out["p_holm"] = holm(out["p_value"].to_numpy()) if len(out) else []
    return out
