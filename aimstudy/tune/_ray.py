"""Ray for a study: the environment it starts in, `ray.init`, and whether one trial fits."""

from __future__ import annotations

import logging
import os
from typing import Any

from aimstudy.train import HUGE_PAGES_ENV
from aimstudy.tune._spec import StudySpec


def check_resources(spec: StudySpec, available: dict[str, float]) -> None:
    """One trial must fit on the machine or cluster: resources.cpu / resources.gpu."""
    for key, need in (("cpu", spec.resources.cpu), ("gpu", spec.resources.gpu)):
        have = float(available.get(key.upper(), 0.0))
        if need > have:
            hint = " (try --set resources.gpu=0)" if key == "gpu" else ""
            raise ValueError(
                f"resources.{key}: a trial needs {need:g} {key.upper()} but only {have:g} "
                f"available{hint}"
            )


def local_resources() -> dict[str, float]:
    """What a local Ray would see, without starting it."""
    import torch

    return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}


def cluster_resources() -> dict[str, float]:
    import ray

    return dict(ray.cluster_resources())


def ray_running() -> bool:
    import ray

    return ray.is_initialized()


class _DropNotice(logging.Filter):
    """Drops a logger's records that start with one of `prefixes`."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


# logger -> the filter of its lines that ask nothing of a study's user: that a new local Ray has
# token authentication on (auth stays on; the warning that it is off still shows); after Ctrl-C,
# Tune's hint to call `Tuner.restore` and its list of incomplete trials (the driver prints the
# `--resume` command and the trials' status instead).
_NOTICES = {
    "ray._private.authentication.authentication_token_setup": _DropNotice(
        "Token authentication is enabled"
    ),
    "ray.tune.tune": _DropNotice("Experiment has been interrupted", "Trials did not complete"),
}


def quiet_env() -> None:
    """Telemetry off; none of Ray's hints that do not apply to a study (the driver prints its own
    progress and where results are): no warnings about checkpointing every epoch, no Tune
    banner and TensorBoard hint (`RunConfig(verbose=0)` silences them only in Ray's legacy
    output), none of the `_NOTICES`. Each variable can still be set."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for logger, notice in _NOTICES.items():
        logging.getLogger(logger).addFilter(notice)  # once: a filter already there is not added


def init_ray(address: str | None, extra: dict[str, Any] | None) -> None:
    """Join `address` (a cluster) or start a local Ray; reuse a session already running."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, **ray_init_kwargs(extra))


def ray_init_kwargs(extra: dict[str, Any] | None) -> dict[str, Any]:
    """Our `ray.init` defaults under the caller's `extra`; workers always get huge pages.

    Trials run in a thread of a worker process, where only huge pages cure the page faults of
    the MPNN's large tensors (aimstudy/train/_memory.py); the caller's env vars and the
    driver's environment win (`THP_MEM_ALLOC_ENABLE=0` opts out).
    """
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **(extra or {})}
    runtime_env = dict(kwargs.get("runtime_env") or {})
    ours = {key: os.environ.get(key, value) for key, value in HUGE_PAGES_ENV.items()}
    runtime_env["env_vars"] = {**ours, **(runtime_env.get("env_vars") or {})}
    kwargs["runtime_env"] = runtime_env
    return kwargs
