"""Statistics over the tidy results table: Δm% against STL, mean ranks, paired tests.

All functions take the table of `results_table` with its `arm` column (`label_arms`; one row per
trial x task x split) and use only finished trials. Groups are arm x size (`size`, the size key
the study varies, `n_train` by default) x seed. Lower MAE is better throughout, so a negative Δm
or relative difference means the arm beats its reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from aimstudy.analysis._arms import ARM, SIZE_KEYS, with_arm

__all__ = [
    "compare_to_baselines",
    "delta_m",
    "holm",
    "mean_ranks",
    "rank_biserial",
    "summarize",
]

SIZE = SIZE_KEYS[0]


def _keys(size: str) -> list[str]:
    return [ARM, size, "seed"]


def finished(table: pd.DataFrame, split: str = "test", size: str = SIZE) -> pd.DataFrame:
    """Rows of finished trials on one split with a MAE; a missing size/seed becomes one group, a
    missing arm is the method."""
    if table.empty or "split" not in table.columns:
        return pd.DataFrame(columns=[*_keys(size), "method", "run_id", "task", "mae"])
    rows = table[(table["status"] == "FINISHED") & (table["split"] == split)]
    rows = rows[rows["mae"].notna()].copy()
    for key, default in ((size, "all"), ("seed", 0), ("method", "?")):
        if key not in rows.columns:
            rows[key] = default
    return with_arm(rows)


def _task_mae(rows: pd.DataFrame, size: str = SIZE) -> pd.DataFrame:
    """Mean MAE per arm x size x seed x task (averaging repeated configurations)."""
    return rows.groupby([*_keys(size), "task"], as_index=False, dropna=False)["mae"].mean()


def delta_m(
    table: pd.DataFrame, split: str = "test", reference: str = "stl", size: str = SIZE
) -> pd.DataFrame:
    """Δm% of each finished trial against the STL reference.

    Δm = mean_t (MAE_t − MAE_t^ref) / MAE_t^ref × 100 over the tasks both have. The reference is
    the `reference` method's runs at the same n_train and seed (`source=<reference>`), else the
    mean of its seeds at that size (`<reference>-mean`), else the trial's logged
    `best/test/delta_m` metric (`logged`) when the table carries a `delta_m_logged` column.
    The reference is matched by method, so every STL arm at a size pools into one reference.
    Columns: run_id, arm, method, <size>, seed, delta_m, n_tasks, source.
    """
    rows = finished(table, split, size)
    keys = _keys(size)
    columns = ["run_id", ARM, "method", *keys[1:], "delta_m", "n_tasks", "source"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    ref = rows[rows["method"] == reference]
    by_seed = ref.groupby([size, "seed", "task"])["mae"].mean()
    by_size = ref.groupby([size, "task"])["mae"].mean()
    records = []
    for run_id, run in rows.groupby("run_id", sort=False):
        first = run.iloc[0]
        key = (first[size], first["seed"])
        record = {"run_id": run_id, **{k: first[k] for k in [ARM, "method", *keys[1:]]}}
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
    return pd.DataFrame(records, columns=columns)


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


def mean_ranks(table: pd.DataFrame, split: str = "test", size: str = SIZE) -> pd.DataFrame:
    """Mean rank of each arm over tasks at each size (1 = lowest MAE, ties averaged).

    Arms are ranked per task on their MAE averaged over seeds (scipy `rankdata`, method
    `average`). Columns: <size>, arm, mean_rank, n_tasks.
    """
    rows = finished(table, split, size)
    if rows.empty:
        return pd.DataFrame(columns=[size, ARM, "mean_rank", "n_tasks"])
    per_task = rows.groupby([size, "task", ARM], as_index=False)["mae"].mean()
    per_task["rank"] = per_task.groupby([size, "task"])["mae"].transform(
        lambda s: stats.rankdata(s.to_numpy(), method="average")
    )
    out = per_task.groupby([size, ARM], as_index=False).agg(
        mean_rank=("rank", "mean"), n_tasks=("task", "nunique")
    )
    return out.sort_values([size, "mean_rank"]).reset_index(drop=True)


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


def _paired(rows: pd.DataFrame, a: str, b: str, size: str = SIZE) -> pd.DataFrame:
    """Task x seed pairs where both arms have a MAE, at each size."""
    mae = _task_mae(rows, size)
    left = mae[mae[ARM] == a].drop(columns=ARM)
    right = mae[mae[ARM] == b].drop(columns=ARM)
    return left.merge(right, on=[size, "seed", "task"], suffixes=("_a", "_b"))


def _test(pairs: pd.DataFrame, size: str = SIZE) -> dict[str, float]:
    """Arm a vs arm b with the seed as the replicate: per seed, the mean over tasks of the
    relative difference (MAE_a − MAE_b) / MAE_b (a Δm of a against b); then a one-sample t-test
    of those per-seed values against 0 (df = seeds − 1). Tasks are not treated as independent
    replicates (several QM9 targets are near-duplicates); wins/losses count tasks on seed means."""
    rel = (pairs["mae_a"] - pairs["mae_b"]) / pairs["mae_b"] * 100.0
    per_seed = rel.groupby([pairs[size].astype(str), pairs["seed"]]).mean().to_numpy()
    per_task = pairs.groupby("task")[["mae_a", "mae_b"]].mean()
    n = len(per_seed)
    mean = float(per_seed.mean()) if n else float("nan")
    if n > 1 and per_seed.std(ddof=1) > 0:
        result = stats.ttest_1samp(per_seed, 0.0)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        half = stats.t.ppf(0.975, n - 1) * per_seed.std(ddof=1) / np.sqrt(n)
    else:
        statistic, p_value, half = float("nan"), float("nan"), float("nan")
    return {
        "n_seeds": n,
        "n_tasks": len(per_task),
        "wins": int((per_task["mae_a"] < per_task["mae_b"]).sum()),
        "losses": int((per_task["mae_a"] > per_task["mae_b"]).sum()),
        "mean_rel_diff_pct": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "rank_biserial": rank_biserial(rel.to_numpy()),
        "statistic": statistic,
        "p_value": p_value,
    }


def _size_key(value: object) -> tuple[bool, object]:
    """Sort sizes numerically, with any text label (e.g. `all`) last."""
    return (isinstance(value, str), value if not isinstance(value, str) else 0)


COMPARISON_COLUMNS = [
    ARM,
    "baseline",
    "n_seeds",
    "n_tasks",
    "wins",
    "losses",
    "mean_rel_diff_pct",
    "ci_low",
    "ci_high",
    "rank_biserial",
    "statistic",
    "p_value",
    "p_holm",
]


def _pairs_to_compare(rows: pd.DataFrame, aim_prefix: str) -> list[tuple[str, str]]:
    """(arm, baseline) pairs: every AIM arm against every non-AIM arm, and every AIM ablation
    arm (an AIM arm with options) against its method's plain arm when the study has one."""
    arms = rows.drop_duplicates(ARM)[[ARM, "method"]]
    method_of = dict(zip(arms[ARM].astype(str), arms["method"].astype(str), strict=True))
    names = sorted(method_of)
    aims = [a for a in names if method_of[a].startswith(aim_prefix)]
    baselines = [a for a in names if not method_of[a].startswith(aim_prefix)]
    pairs = [(a, b) for a in aims for b in baselines]
    pairs += [(a, method_of[a]) for a in aims if a != method_of[a] and method_of[a] in method_of]
    return pairs


def compare_to_baselines(
    table: pd.DataFrame,
    split: str = "test",
    aim_prefix: str = "aim",
    pooled: bool = True,
    size: str = SIZE,
) -> pd.DataFrame:
    """AIM arms vs each baseline arm (and AIM ablation arms vs their plain AIM arm), per size.

    The replicate is the seed (`_test`): the effect is the mean relative MAE difference in %
    (negative favours the arm), its 95% t-interval over seeds and a one-sample t-test, Holm-
    corrected over every row of the returned table. A pooled row (`<size>=all`, seeds of every
    size as replicates) is added when `pooled` and there are several sizes. Columns: arm,
    baseline, <size>, n_seeds, n_tasks, wins, losses (tasks, on seed means), mean_rel_diff_pct,
    ci_low, ci_high, rank_biserial (over task x seed pairs, descriptive), statistic, p_value,
    p_holm.
    """
    rows = finished(table, split, size)
    columns = [*COMPARISON_COLUMNS[:2], size, *COMPARISON_COLUMNS[2:]]
    records = []
    for arm, base in _pairs_to_compare(rows, aim_prefix) if not rows.empty else []:
        pairs = _paired(rows, arm, base, size)
        groups = [
            (value, pairs[pairs[size] == value])
            for value in sorted(pairs[size].unique(), key=_size_key)
        ]
        if pooled and len(groups) > 1:
            groups.append(("all", pairs))
        for value, group in groups:
            if len(group):
                records.append({ARM: arm, "baseline": base, size: value, **_test(group, size)})
    out = pd.DataFrame(records, columns=columns[:-1])
    out["p_holm"] = holm(out["p_value"].to_numpy()) if len(out) else []
    return out
