"""What produced a run: the aimstudy version, its git commit, the library versions, the device.

Read once per process (package metadata and one `git rev-parse`), so a launch and its trials pay
milliseconds for it. Tagged on the parent run and on every trial run (`provenance_tags`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
from pathlib import Path

from aimstudy.tracking._names import DEVICE_TAG, GIT_COMMIT_TAG, VERSION_TAG, VERSIONS_PREFIX

# Distributions whose versions change results or how they are recorded.
LIBRARIES = ("torch", "torch_geometric", "rdkit", "torchjd", "ray", "mlflow", "optuna")
_PACKAGE = Path(__file__).resolve().parents[1]  # the aimstudy package folder


@functools.cache
def _static_tags() -> dict[str, str]:
    from aimstudy import __version__

    tags = {VERSION_TAG: __version__}
    commit = git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    for name in LIBRARIES:
        try:
            tags[VERSIONS_PREFIX + name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional library that is not installed
    return tags


def provenance_tags(device: str | None = None) -> dict[str, str]:
    """Version, commit and library tags, plus `device` (e.g. `cuda (NVIDIA H200)`) when given."""
    tags = dict(_static_tags())
    if device:
        tags[DEVICE_TAG] = device
    return tags


def git_commit(package: Path = _PACKAGE) -> str | None:
    """HEAD of the git checkout aimstudy runs from, None when it is not one (an installed wheel,
    no git). The checkout must hold the package itself: a venv inside some other repository
    does not lend its commit to an installed copy."""
    try:
        out = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 2 or Path(out[0]).resolve() != package.parent:
        return None
    return out[1]


def device_label(name: str) -> str:
    """A trial's device as trained on: `cpu`, or `cuda:0 (NVIDIA H200)` ("auto" resolved)."""
    from aimstudy.train import resolve_device

    try:
        device = resolve_device(name)
    except ValueError:
        return name
    if device.type != "cuda":
        return str(device)
    import torch

    return f"{device} ({torch.cuda.get_device_name(device)})"
