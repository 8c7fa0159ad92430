"""The analysis notebook runs top to bottom on a tiny synthetic study and shows its figures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="dev extra: nbclient + ipykernel")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"


@pytest.mark.slow
def test_analysis_notebook_executes(synthetic_study, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    folder, _ = synthetic_study
    monkeypatch.setenv("AIMSTUDY_STUDY", str(folder))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=dict(os.environ))
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # data efficiency + 3 policy figures + 3 tuning views
    assert len(images) >= 7
    text = "".join(
        str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs
    )
    assert "synthetic" in text and "aim-matrix" in text and "missing" in text
