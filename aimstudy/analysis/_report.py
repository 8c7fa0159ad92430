"""Write a study report: figures (PNG), Markdown tables and one self-contained HTML page.

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
from aimstudy.analysis._curves import plot_data_efficiency, save_figure
from aimstudy.analysis._policy import (
    choose_policy_group,
    group_policy,
    plot_dendrograms,
    plot_policy_evolution,
    plot_policy_heatmaps,
)
from aimstudy.analysis._runs import write_results
from aimstudy.analysis._tuning import tuning_summary, tuning_views

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


def report_figures(analysis: StudyAnalysis) -> tuple[dict[str, Figure], list[str]]:
    """Every figure of the report by name, plus notes for those that could not be drawn."""
    figures: dict[str, Figure] = {}
    notes: list[str] = []

    def attempt(name: str, draw) -> None:  # noqa: ANN001 - a zero-argument figure factory
        try:
            figures[name] = draw()
        except ValueError as exc:
            notes.append(f"{name}: {exc}")

    attempt("data_efficiency", lambda: plot_data_efficiency(analysis.curves))
    group = choose_policy_group(analysis.policy) if not analysis.policy.empty else None
    if group is None:
        notes.append("policy figures: no trial logged a τ matrix (policy/policy.parquet)")
    else:
        chosen = group_policy(analysis.policy, *group)
        attempt("policy_heatmaps", lambda: plot_policy_heatmaps(chosen))
        attempt("policy_evolution", lambda: plot_policy_evolution(chosen))
        attempt("task_dendrograms", lambda: plot_dendrograms(chosen))
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


def _reference(analysis: StudyAnalysis) -> str:
    """What Δm% was computed against, for the section title (STL unless the study lacks it)."""
    sources = {str(s).removesuffix("-mean") for s in analysis.deltas["source"]}
    sources = {"STL (logged)" if s == "logged" else s.upper() for s in sources}
    return " / ".join(sorted(sources)) or "STL"


def _tables(analysis: StudyAnalysis) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, explanation, table) for every section of the report, in order."""
    tables = [
        ("Trials", "Trial runs by MLflow status.", analysis.trial_status),
        (
            f"Δm% vs {_reference(analysis)}",
            "Mean over seeds with 95% t-interval; lower is better (source column of deltas: "
            "reference matched by seed, its seed mean, or the logged metric).",
            analysis.delta_summary,
        ),
        ("Mean rank over tasks", "Rank 1 = lowest test MAE, ties averaged.", analysis.ranks),
        (
            "AIM vs baselines",
            "Wilcoxon signed-rank over task × seed pairs of relative MAE differences, "
            "Holm-corrected "
            "over all rows; negative median difference and rank-biserial favour AIM.",
            analysis.comparisons,
        ),
        (
            "Policy stability across seeds",
            "Spearman correlation of last-epoch off-diagonal τ between seeds.",
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
    ]
    for title, text, table in _tables(analysis):
        lines += [f"## {title}", "", text, "", markdown_table(table), ""]
    lines += ["## Figures", ""]
    lines += [f"![{name}](figures/{path.name})" for name, path in files.figures.items()]
    if files.notes or analysis.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in [*analysis.notes, *files.notes]]
    return "\n".join(lines) + "\n"


def _html(analysis: StudyAnalysis, files: ReportFiles) -> str:
    """One self-contained HTML page: tables and base64-embedded figures."""
    parts = [
        f"<h1>Study report: {html.escape(analysis.study.name)}</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from "
        f"<code>{html.escape(analysis.study.tracking_uri)}</code></p>",
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
        "border-bottom:1px solid #ddd}img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(analysis.study.name)} report</title><style>{style}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def write_report(analysis: StudyAnalysis, out: Path | None = None) -> ReportFiles:
    """Write results.parquet, figures/*.png, report.md and report.html into `out`
    (default `<study folder>/report`)."""
    folder = Path(out) if out is not None else analysis.study.folder / "report"
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
    analysis: StudyAnalysis, files: ReportFiles, artifact_path: str = "report"
) -> str | None:
    """Attach the report folder to the latest parent run; returns its run id (None if no parent)."""
    run_id = analysis.parent_run_id
    if run_id is None:
        return None
    client = MlflowClient(tracking_uri=analysis.study.tracking_uri)
    client.log_artifacts(run_id, str(files.folder), artifact_path=artifact_path)
    return run_id
