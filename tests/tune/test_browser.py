"""What a user sees: the MLflow UI (served on 127.0.0.1) over a finished study's store shows the
study's experiment, its trial runs and a policy heatmap, in headless Chromium."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from aimstudy.tracking import child_runs
from aimstudy.tune import StudyOutcome

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate: Callable[[], Any], timeout_s: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the page is still rendering
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_mlflow_ui_shows_the_study_its_trials_and_a_heatmap(
    browser: Any, server_study: tuple[StudyOutcome, Path], mlflow_server: str
) -> None:
    from selenium.webdriver.common.by import By

    outcome, _ = server_study
    experiment = outcome.runs.experiment_id
    trials = [r for r in child_runs(outcome.runs) if r.info.status == "FINISHED"]
    browser.get(f"{mlflow_server}/#/experiments/{experiment}/runs")
    body = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
    _wait(lambda: "server-study" in body(), what="the experiment name")
    launch = MlflowClient(outcome.tracking_uri).get_run(outcome.runs.parent_run_id)
    _wait(lambda: launch.info.run_name in body(), what="the study launch (parent run)")
    # trial runs are nested under the launch: expand it with the button in its name cell
    expander = "[col-id='attributes.`Run Name`'] button"
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, expander), what="the expand button")
    browser.find_elements(By.CSS_SELECTOR, expander)[0].click()
    for run in trials:
        _wait(lambda n=run.info.run_name: n in body(), what=f"run {run.info.run_name}")

    run = next(r for r in trials if r.data.params["method"] == "aim-matrix")
    assert run.info.run_name == "aim-matrix n=40 s0"  # method, size and seed, as shown above
    # The heatmaps are an image series (`log_image(key="policy/tau", step=epoch)`), stored by
    # MLflow as images/policy~tau+step+1+...png: open epoch 1's in the artifact tree.
    images = MlflowClient(outcome.tracking_uri).list_artifacts(run.info.run_id, "images")
    path = next(
        a.path
        for a in images
        if a.path.startswith("images/policy~tau+step+1+") and a.path.endswith(".png")
    )  # beside it MLflow keeps a compressed .webp copy for its image grid
    image_name = path.rsplit("/", 1)[-1]
    browser.get(
        f"{mlflow_server}/#/experiments/{experiment}/runs/{run.info.run_id}/artifacts/{path}"
    )

    _wait(lambda: image_name in body(), what="the heatmap in the artifact tree")
    # The tree's preview does not render names with `~` and `+` (MLflow's own image-series
    # names): the file it lists must be the heatmap, a PNG of readable size.
    from PIL import Image

    local = MlflowClient(outcome.tracking_uri).download_artifacts(run.info.run_id, path)
    with Image.open(local) as image:
        assert image.format == "PNG" and image.width > 100
