"""Bad `--storage` / `storage:` input fails with one line naming the URI, before Ray starts.

A malformed URI fails with the spec (also under `--check`); a storage that cannot be written,
or a remote one with a tracking store on the driver's disk, fails in `run_study` before any
trial. The S3 cases talk to moto's in-process S3 server on 127.0.0.1 (half a second to start).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aimstudy.cli import main
from aimstudy.tracking import sqlite_uri
from aimstudy.tune import StudyFolder, run_study, validate_spec
from aimstudy.tune._storage import Storage
from tests.tune.conftest import tiny_raw

BUCKET = "aimstudy-errors"
STUDY = "storage-errors"


def _spec(data_cache: Path, storage: str) -> Any:
    return validate_spec(tiny_raw(STUDY, data_cache, storage=storage))


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting Ray fails the test: every error here must come before it."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("Ray was started")

    monkeypatch.setattr("aimstudy.tune._ray.init_ray", refuse)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s4://bucket/studies", "unknown scheme 's4'; use a folder path or one of s3://, gs://"),
        ("S3://bucket/studies", "unknown scheme 'S3'"),
        ("s3://", "no bucket; give s3://BUCKET/PREFIX"),
        ("s3:///studies", "no bucket; give s3://BUCKET/PREFIX"),
        ("gs://", "no bucket; give gs://BUCKET/PREFIX"),
        ("file://relative/studies", "a file:// URI needs an absolute path (file:///PATH)"),
        ("", "storage: empty"),
    ],
)
def test_a_malformed_storage_uri_fails_with_the_spec(
    uri: str, expected: str, data_cache: Path
) -> None:
    with pytest.raises(ValueError) as exc:
        _spec(data_cache, uri)
    message = _one_line(exc)
    assert expected in message
    assert "storage" in message


def test_run_check_reports_a_bad_storage_uri_in_one_line(
    tmp_path: Path, data_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(tiny_raw(STUDY, data_cache)))
    code = main(["run", str(study), "--storage", "s4://bucket/studies", "--check"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [err]
    assert err.startswith("aimstudy run: error: ") and "unknown scheme 's4'" in err


def test_a_relative_storage_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tune (pyarrow) refuses a relative storage path after Ray started ("URI has empty
    scheme"); the study folder hands it an absolute one instead."""
    monkeypatch.chdir(tmp_path)
    folder = StudyFolder.locate(STUDY, None, "out", "shared/studies")
    assert folder.storage == str(tmp_path / "shared" / "studies" / STUDY)
    assert Storage("file:///srv/studies").root == "/srv/studies"
    assert Storage("~/studies").root == str(Path.home() / "studies")
    assert Storage("s3://bucket/studies").root == "s3://bucket/studies"  # a URI stays as given


def test_a_uri_pyarrow_refuses_is_one_line_naming_it_once() -> None:
    uri = "s3://bucket/studies?bogus=1"
    with pytest.raises(ValueError) as exc:
        Storage(uri).check()
    message = _one_line(exc)
    assert message == (
        f"storage {uri}: cannot open it (Unexpected query parameter in S3 URI: 'bogus')"
    )


def test_a_storage_that_cannot_be_written_fails_before_the_output_folder_and_ray(
    tmp_path: Path, data_cache: Path, no_ray: None
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    spec = _spec(data_cache, str(blocker / "studies"))
    with pytest.raises(ValueError) as exc:
        run_study(spec, tmp_path / "out", progress=False)
    message = _one_line(exc)
    assert message.startswith(f"storage {blocker / 'studies' / STUDY}: cannot write there (")
    assert "Not a directory" in message
    assert not (tmp_path / "out").exists()


# --- S3: moto's server in this process -------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, with one bucket; yields its URL."""
    pytest.importorskip("moto", reason="moto[server] is a dev dependency")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        request = urllib.request.Request(f"{url}/{BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()  # create the bucket
        yield url
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment that reaches the server (as a cluster node's would), no tracking URI."""
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return s3_endpoint


def _keys(prefix: str = "") -> list[str]:
    from pyarrow import fs as pafs

    s3 = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"])
    infos = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    return [i.path for i in infos if i.type == pafs.FileType.File]


def test_a_missing_bucket_fails_in_one_line_naming_it(
    s3_env: str, tmp_path: Path, data_cache: Path, no_ray: None
) -> None:
    spec = _spec(data_cache, "s3://no-such-bucket/studies")
    with pytest.raises(ValueError) as exc:
        run_study(spec, tmp_path / "out", tracking_uri="http://127.0.0.1:9", progress=False)
    message = _one_line(exc)
    assert message.startswith(f"storage s3://no-such-bucket/studies/{STUDY}: cannot write there")
    assert "Bucket 'no-such-bucket' not found" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("tracking", [None, "sqlite:///{out}/elsewhere.db"])
def test_remote_storage_with_a_local_sqlite_tracking_store_is_refused(
    tracking: str | None, s3_env: str, tmp_path: Path, data_cache: Path, no_ray: None
) -> None:
    """The default store (`<out>/mlflow.db`) or any SQLite file would stay on the driver's disk:
    the study could not be resumed or reported from elsewhere, so it is refused up front."""
    out = tmp_path / "out"
    uri = tracking.format(out=out) if tracking else None
    spec = _spec(data_cache, f"s3://{BUCKET}/studies")
    with pytest.raises(ValueError) as exc:
        run_study(spec, out, tracking_uri=uri, progress=False)
    message = _one_line(exc)
    store = uri or sqlite_uri(out / "mlflow.db")
    assert message.startswith(f"storage s3://{BUCKET}/studies/{STUDY}: the tracking store {store}")
    assert "--tracking-uri http://HOST:PORT" in message
    assert not out.exists()
    assert _keys() == []  # the write probe is gone; no launch state was written
