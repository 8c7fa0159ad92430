"""Analysis of finished studies: MLflow runs -> tidy tables -> statistics, figures, reports.

Typical use::

    from aimstudy.analysis import open_study, analyse, write_report
    study = open_study("runs/quickstart")          # a study folder or its YAML spec
    result = analyse(study)                        # tables: result.table, result.deltas, ...
    files = write_report(result)                   # <folder>/report/report.html, report.md
"""

from __future__ import annotations

from aimstudy.analysis._analysis import StudyAnalysis, analyse, grid_status
from aimstudy.analysis._checks import (
    correlated_groups,
    task_correlation,
    trial_epochs,
    undertrained,
    with_interval_note,
)
from aimstudy.analysis._curves import (
    arm_groups,
    data_efficiency,
    data_efficiency_figures,
    plot_data_efficiency,
    plot_delta_m,
    save_figure,
    seed_points,
)
from aimstudy.analysis._policy import (
    POLICY_ARTIFACT,
    choose_policy_group,
    group_policy,
    load_policy,
    plot_dendrograms,
    plot_policy_evolution,
    plot_policy_heatmaps,
    policy_matrix,
    seed_stability,
    select_epochs,
    stability_of,
)
from aimstudy.analysis._report import (
    ReportFiles,
    log_report,
    markdown_table,
    report_figures,
    write_report,
)
from aimstudy.analysis._runs import (
    load_runs,
    parent_runs,
    results_table,
    split_task_metrics,
    write_results,
)
from aimstudy.analysis._stats import (
    compare_to_baselines,
    delta_m,
    holm,
    mean_ranks,
    rank_biserial,
    summarize,
)
from aimstudy.analysis._study import Study, open_study, resolve_tracking_uri
from aimstudy.analysis._summary import summary_lines
from aimstudy.analysis._tuning import TuningView, tuning_summary, tuning_views
from aimstudy.analysis._units import study_units

__all__ = [
    "POLICY_ARTIFACT",
    "ReportFiles",
    "Study",
    "StudyAnalysis",
    "TuningView",
    "analyse",
    "arm_groups",
    "choose_policy_group",
    "compare_to_baselines",
    "correlated_groups",
    "data_efficiency",
    "data_efficiency_figures",
    "delta_m",
    "grid_status",
    "group_policy",
    "holm",
    "load_policy",
    "load_runs",
    "log_report",
    "markdown_table",
    "mean_ranks",
    "open_study",
    "parent_runs",
    "plot_data_efficiency",
    "plot_delta_m",
    "plot_dendrograms",
    "plot_policy_evolution",
    "plot_policy_heatmaps",
    "policy_matrix",
    "rank_biserial",
    "report_figures",
    "resolve_tracking_uri",
    "results_table",
    "save_figure",
    "seed_points",
    "seed_stability",
    "select_epochs",
    "split_task_metrics",
    "stability_of",
    "study_units",
    "summarize",
    "summary_lines",
    "task_correlation",
    "trial_epochs",
    "tuning_summary",
    "tuning_views",
    "undertrained",
    "with_interval_note",
    "write_report",
    "write_results",
]
