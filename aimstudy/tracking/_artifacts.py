"""Artifact writers: policy matrices as a long Parquet table, heatmaps as images (MLflow logs
them as a stepped image series) or PNG files."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from aimstudy.train import policy_rows, policy_table


def policy_frame(
    rows: Iterable[tuple[int, str, np.ndarray]], task_names: Sequence[str]
) -> pd.DataFrame:
    """(epoch, matrix name, [T, T] array) triples -> the trial folder's long policy table."""
    names = list(task_names)
    return policy_table(
        row for epoch, matrix, values in rows for row in policy_rows(epoch, {matrix: values}, names)
    )


# Colour scales per matrix kind: cosines and thresholds are signed, gates lie in [0, 1].
_SCALES = {"cosine": ("RdBu_r", -1.0, 1.0), "gate": ("viridis", 0.0, 1.0)}


def write_heatmap(values: np.ndarray, task_names: Sequence[str], title: str, path: Path) -> Path:
    """Render one [T, T] matrix as an annotated heatmap PNG file (see `render_heatmap`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    render_heatmap(values, task_names, title).save(path)
    return path


def render_heatmap(values: np.ndarray, task_names: Sequence[str], title: str) -> Image.Image:
    """One [T, T] matrix as an annotated heatmap image (matplotlib Agg, no display), the form
    `MlflowClient.log_image` takes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=float)  # [T, T]
    kind = title.split()[0]
    cmap, vmin, vmax = _SCALES.get(kind, ("RdBu_r", None, None))
    if vmin is None:
        bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
        vmin, vmax = -(bound or 1.0), bound or 1.0
    size = 1.2 + 0.45 * len(task_names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    try:
        image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(task_names)), labels=task_names, rotation=60, ha="right")
        ax.set_yticks(range(len(task_names)), labels=task_names)
        ax.set_xlabel("task j")
        ax.set_ylabel("task i")
        ax.set_title(title)
        if len(task_names) <= 12:
            for (r, c), v in np.ndenumerate(values):
                if np.isfinite(v):
                    ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as png:
        return png.convert("RGB")
