"""Where a study keeps what must outlive the driver's machine: a local folder, or any filesystem
pyarrow opens (`s3://`, `gs://`, `hdfs://`, a mounted path).

With `--storage URI` (or `storage:` in the spec) a study's launch state (`study.json`,
`study.yaml`) and its Tune experiments (trial checkpoints, Tune's own state) live under
`URI/<study name>/`, so any machine that can reach that filesystem and the tracking server can
`--resume` the study or report it. S3-compatible stores are reached through the usual
environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...): credentials never go in a spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Schemes pyarrow opens itself; a path without a scheme is a local (or mounted) folder.
REMOTE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")
# Schemes whose URI must name a bucket (container): `s3://` alone is no folder to write to.
BUCKET_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss")


@dataclass(frozen=True)
class Storage:
    """A folder on a filesystem: `root` is a local path or `scheme://bucket/prefix`."""

    root: str

    def __post_init__(self) -> None:
        # A local root is made absolute here, once: Tune (pyarrow) refuses a relative storage
        # path after Ray has started, and a resumed launch must find the same folder.
        if not self.remote:
            local = os.path.abspath(os.path.expanduser(self.root.removeprefix("file://")))
            object.__setattr__(self, "root", local)

    @property
    def remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")

    def join(self, *parts: str) -> str:
        """`root/part/...` as a string (a URI keeps its `//`; `Path` would fold it)."""
        return "/".join([self.root.rstrip("/"), *parts])

    def read_text(self, name: str) -> str | None:
        """The text of file `name` under the root, None when there is none."""
        fs, path = self._fs(self.join(name))
        from pyarrow import fs as pafs

        if fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(path) as stream:
            return stream.read().decode()

    def write_text(self, name: str, text: str) -> None:
        fs, path = self._fs(self.join(name))
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as stream:
            stream.write(text.encode())

    def exists(self, name: str) -> bool:
        from pyarrow import fs as pafs

        fs, path = self._fs(self.join(name))
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    def check(self) -> None:
        """Fail with one line, before any trial, when the root cannot be opened or written."""
        probe = self.join(".aimstudy-probe")
        fs, path = self._fs(probe)  # one line of its own when pyarrow cannot open the URI
        try:
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with fs.open_output_stream(path) as stream:
                stream.write(b"ok\n")
            fs.delete_file(path)
        except (OSError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"storage {self.root}: cannot write there ({_reason(exc)})") from None

    def _fs(self, uri: str) -> tuple[Any, str]:
        from pyarrow import fs as pafs

        if not self.remote:
            local = Path(uri.removeprefix("file://")).expanduser().resolve()
            return pafs.LocalFileSystem(), str(local)
        try:
            return pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError, NotImplementedError) as exc:  # ArrowInvalid: ValueError
            raise ValueError(f"storage {self.root}: cannot open it ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    """The first line of an error (pyarrow's can run to many: a JVM search, an AWS trace)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_storage_uri(uri: str) -> None:
    """A storage URI must name a folder pyarrow can open: a scheme it knows with its bucket, or
    a local path (`file:///abs/path` too). Checked with the spec, before anything connects."""
    if not uri.strip():
        raise ValueError("storage: empty; give a folder path or a URI such as s3://BUCKET/PREFIX")
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme and scheme != "file" and scheme not in REMOTE_SCHEMES:
        raise ValueError(
            f"storage {uri!r}: unknown scheme {scheme!r}; use a folder path or one of "
            f"{', '.join(s + '://' for s in REMOTE_SCHEMES)}"
        )
    if scheme in BUCKET_SCHEMES and not urlsplit(uri).netloc:
        raise ValueError(f"storage {uri!r}: no bucket; give {scheme}://BUCKET/PREFIX")
    if scheme == "file" and not uri.removeprefix("file://").startswith("/"):
        raise ValueError(f"storage {uri!r}: a file:// URI needs an absolute path (file:///PATH)")


def launch_name(ray_path: str | Path) -> str:
    """The launch's Tune experiment name: the last part of its path or URI."""
    return str(ray_path).rstrip("/").rsplit("/", 1)[-1]


def launch_parent(ray_path: str | Path) -> str:
    """Where the launch's Tune experiment lives (Tune's `storage_path`)."""
    return str(ray_path).rstrip("/").rsplit("/", 1)[0]
