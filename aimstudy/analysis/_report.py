"""Write a study report: figures (PNG), Markdown tables and one self-contained HTML page.

The report opens with a plain-language summary (`summary_lines`): best arms, every AIM-vs-
baseline effect with its CI and Holm p-value (saying what is not significant), and warnings.
`write_report` puts everything under `<study folder>/report/` (or `out`), and `log_report`
attaches it to the latest parent run of the study in MLflow.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient

from aimstudy.analysis._analysis import StudyAnalysis
from aimstudy.analysis._arms import ARM
from aimstudy.analysis._checks import (
    CORRELATED_SPEARMAN,
    MIN_SEEDS_FOR_INTERVAL,
    STABLE_SPEARMAN,
    UNDERTRAINED_NOTE,
)
from aimstudy.analysis._curves import data_efficiency_figures, save_figure
from aimstudy.analysis._policy import (
    choose_policy_group,
    group_policy,
    plot_dendrograms,
    plot_policy_evolution,
    plot_policy_heatmaps,
    stability_of,
)
from aimstudy.analysis._runs import write_results
from aimstudy.analysis._summary import delta_reference, summary_lines
from aimstudy.analysis._tuning import tuning_summary, tuning_views
from aimstudy.tracking import REPORT_DIR
from aimstudy.tune import StudyFolder

__all__ = ["ReportFiles", "log_report", "markdown_table", "report_figures", "write_report"]


@dataclass
class ReportFiles:
    """What a report wrote."""

    folder: Path
    html: Path
    markdown: Path
    results: Path
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # sections skipped, with the reason


def _fmt(value: object) -> str:
    """Cell text: 4 significant digits for floats, blank for NaN."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no tabulate dependency)."""
    if frame.empty:
        return "_(none)_"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _baselines(analysis: StudyAnalysis) -> list[str]:
    """Arms that are only ever compared against (the baselines every curve figure repeats)."""
    table = analysis.comparisons
    if table.empty:
        return []
    return sorted(set(table["baseline"].astype(str)) - set(table[ARM].astype(str)))


def report_figures(analysis: StudyAnalysis) -> tuple[dict[str, Figure], list[str]]:
    """Every figure of the report by name, plus notes for those that could not be drawn."""
    figures: dict[str, Figure] = {}
    notes: list[str] = []

    def attempt(name: str, draw) -> None:
        try:
            drawn = draw()
            figures.update(drawn if isinstance(drawn, dict) else {name: drawn})
        except ValueError as exc:
            notes.append(f"{name}: {exc}")

    seeds = analysis.curve_seeds if not analysis.curve_seeds.empty else None
    attempt(
        "data_efficiency",
        lambda: data_efficiency_figures(
            analysis.curves, seeds, analysis.units, _baselines(analysis), delta_reference(analysis)
        ),
    )
    group = choose_policy_group(analysis.policy) if not analysis.policy.empty else None
    if group is None:
        notes.append("policy figures: no trial logged a τ matrix (policy/policy.parquet)")
    else:
        chosen = group_policy(analysis.policy, *group)
        rho = stability_of(analysis.stability, *group)
        attempt("policy_heatmaps", lambda: plot_policy_heatmaps(chosen, stability=rho))
        attempt("policy_evolution", lambda: plot_policy_evolution(chosen, stability=rho))
        attempt("task_dendrograms", lambda: plot_dendrograms(chosen, stability=rho))
        notes.append(
            f"policy figures show arm {group[0]} at {analysis.size_key}={group[1]}, mean over seeds"
        )
    if analysis.study.optuna_storage:
        try:
            for view in tuning_views(analysis.study.optuna_storage):
                if view.figure is None:
                    notes.append(f"tuning {view.kind} of {view.study}: {view.note}")
                else:
                    figures[f"tuning_{view.kind}_{view.study}"] = view.figure
        except ValueError as exc:
            notes.append(f"tuning views: {exc}")
    return figures, notes


def _correlation_table(analysis: StudyAnalysis) -> pd.DataFrame:
    """The task x task Spearman matrix with the task as its first column."""
    corr = analysis.task_correlation
    return corr.rename_axis("task").reset_index() if not corr.empty else corr


def _tables(analysis: StudyAnalysis) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, explanation, table) for every section of the report, in order."""
    size = analysis.size_key
    tables = [
        ("Trials", "Trial runs by MLflow status.", analysis.trial_status),
        (
            f"Δm% vs {delta_reference(analysis)}",
            "Mean over seeds; lower is better. The `interval` column says how ci_low/ci_high "
            f"were made: a 95% t-interval over seeds from {MIN_SEEDS_FOR_INTERVAL} seeds on, "
            "none below (with 2 seeds t = 12.7 gives an interval that says nothing). Source "
            "column of deltas: reference matched by seed, its seed mean, or the logged metric.",
            analysis.delta_summary,
        ),
        ("Mean rank over tasks", "Rank 1 = lowest test MAE, ties averaged.", analysis.ranks),
        (
            "AIM vs baselines",
            "The replicate is the seed: per seed, the mean over tasks of the relative MAE "
            "difference (arm − baseline) / baseline in %; mean_rel_diff_pct with its 95% "
            "t-interval over seeds (ci_low, ci_high) and a one-sample t-test against 0, "
            f"Holm-corrected over all rows (p_holm). Negative favours the arm. {size}=all pools "
            "the seeds of every size. wins/losses count tasks on seed means; rank_biserial is "
            "descriptive (task x seed pairs are not independent).",
            analysis.comparisons,
        ),
        (
            "Trials that peaked at their last epoch",
            "Finished trials per arm whose best epoch (best/epoch) is their last epoch (the "
            "last `epoch` logged, else the `epochs` param): still improving when training "
            f"stopped. A note `{UNDERTRAINED_NOTE}` marks arms with any.",
            analysis.undertrained,
        ),
        (
            "Task correlation across trials",
            f"Spearman correlation of test MAEs between tasks across finished trials of the same "
            f"{size}, averaged over sizes. Tasks at ≥ {CORRELATED_SPEARMAN:g} move together: "
            "they are not independent evidence for a method.",
            _correlation_table(analysis),
        ),
        (
            "Policy stability across seeds",
            "Spearman correlation of last-epoch off-diagonal τ between seeds; below "
            f"{STABLE_SPEARMAN:g} the τ pattern is not reproducible and task relations should "
            "not be read from it.",
            analysis.stability,
        ),
    ]
    unfinished = (
        analysis.cells[analysis.cells["status"] != "finished"]
        if not analysis.cells.empty
        else analysis.cells
    )
    if not analysis.cells.empty:
        tables.insert(
            1,
            (
                "Grid cells not finished",
                f"{len(unfinished)} of {len(analysis.cells)} cells of the spec's grid.",
                unfinished,
            ),
        )
    return tables


def _png64(path: Path) -> str:
    """A PNG file as a base64 data URI, so the HTML needs no side files."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _markdown(analysis: StudyAnalysis, files: ReportFiles) -> str:
    """The Markdown report: tables inline, figures linked relative to the report folder."""
    lines = [
        f"# Study report: {analysis.study.name}",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {analysis.study.tracking_uri}",
        "",
        "## Summary",
        "",
        *[f"- {line}" for line in summary_lines(analysis)],
        "",
    ]
    for title, text, table in _tables(analysis):
        lines += [f"## {title}", "", text, "", markdown_table(table), ""]
    lines += ["## Figures", ""]
    lines += [f"![{name}](figures/{path.name})" for name, path in files.figures.items()]
    if files.notes or analysis.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in [*analysis.notes, *files.notes]]
    return "\n".join(lines) + "\n"


def _html_item(line: str) -> str:
    """A summary sentence as a list item; warnings stand out."""
    style = ' class="warn"' if line.startswith("Warning") else ""
    return f"<li{style}>{html.escape(line)}</li>"


def _html(analysis: StudyAnalysis, files: ReportFiles) -> str:
    """One self-contained HTML page: tables and base64-embedded figures."""
    parts = [
        f"<h1>Study report: {html.escape(analysis.study.name)}</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from "
        f"<code>{html.escape(analysis.study.tracking_uri)}</code></p>",
        "<h2>Summary</h2>",
        "<ul>" + "".join(_html_item(line) for line in summary_lines(analysis)) + "</ul>",
    ]
    for title, text, table in _tables(analysis):
        body = (
            "<p><em>(none)</em></p>"
            if table.empty
            else table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
        )
        parts += [f"<h2>{html.escape(title)}</h2>", f"<p>{html.escape(text)}</p>", body]
    parts.append("<h2>Figures</h2>")
    for name, path in files.figures.items():
        parts.append(
            f'<figure><img alt="{name}" src="{_png64(path)}"/>'
            f"<figcaption>{html.escape(name)}</figcaption></figure>"
        )
    if files.notes or analysis.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in [*analysis.notes, *files.notes])
        parts.append(f"<h2>Notes</h2><ul>{items}</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd}img{max-width:100%}.warn{color:#b00020}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(analysis.study.name)} report</title><style>{style}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def write_report(analysis: StudyAnalysis, out: Path | None = None) -> ReportFiles:
    """Write results.parquet, figures/*.png, report.md and report.html into `out`
    (default `<study folder>/report`)."""
    folder = Path(out) if out is not None else StudyFolder(analysis.study.folder).report
    folder.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        folder=folder,
        html=folder / "report.html",
        markdown=folder / "report.md",
        results=folder / "results.parquet",
    )
    write_results(analysis.table, files.results)
    figures, files.notes = report_figures(analysis)
    for name, fig in figures.items():
        files.figures[name] = save_figure(fig, folder / "figures" / f"{name}.png")
    for title, _, table in _tables(analysis):
        slug = title.replace("Δm%", "delta_m").lower().replace(" ", "_")
        table.to_csv(folder / f"{slug}.csv", index=False)
    if analysis.study.optuna_storage:
        try:
            tuning_summary(analysis.study.optuna_storage).to_csv(folder / "tuning.csv", index=False)
        except ValueError as exc:
            files.notes.append(f"tuning summary: {exc}")
    files.markdown.write_text(_markdown(analysis, files))
    files.html.write_text(_html(analysis, files))
    return files


def log_report(
    analysis: StudyAnalysis, files: ReportFiles, artifact_path: str = REPORT_DIR
) -> str | None:
    """Attach the report folder to the latest parent run; returns its run id (None if no parent)."""
    run_id = analysis.parent_run_id
    if run_id is None:
        return None
    client = MlflowClient(tracking_uri=analysis.study.tracking_uri)
    client.log_artifacts(run_id, str(files.folder), artifact_path=artifact_path)
    return run_id
