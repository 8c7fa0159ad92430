"""Large tensors freed and allocated again: few page faults with glibc's heap kept or with huge
pages; each cure only where it works."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aimstudy.train import HUGE_PAGES_ENV
from aimstudy.train._memory import keep_freed_memory

N_FLOATS = 10_000_000  # 40 MB tensors: above glibc's mmap threshold, like the MPNN's
PAGES = N_FLOATS * 4 // resource.getpagesize()
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# A fresh interpreter each time: both settings are process-wide, and torch reads its variable
# once, at its first allocation. Each "step" allocates and frees large tensors as a backward
# pass does; the faults of the last three steps are reported, once the heap has settled.
SCRIPT = """
import json, resource, sys, torch
from aimstudy.train._memory import keep_freed_memory

n = int(sys.argv[1])
applied = keep_freed_memory() if sys.argv[2] == "keep" else None
w = torch.randn(n // 64, 64)

def step_faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        g = torch.randn(n // 64, 1) * w
        (g + w).sum(0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults = [step_faults() for _ in range(6)]
print(json.dumps({"applied": applied, "faults": sum(faults[3:])}))
"""


def _settled_faults(mode: str, env: dict[str, str] | None = None) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in HUGE_PAGES_ENV}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(N_FLOATS), mode],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **(env or {})},
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)
def test_kept_heap_reallocates_with_few_page_faults() -> None:
    default = _settled_faults("default")["faults"]
    assert default > 3 * 3 * PAGES  # every large tensor is a fresh mmap, faulted page by page
    kept = _settled_faults("keep")
    assert kept["applied"] is True
    assert kept["faults"] < default // 10


@pytest.mark.skipif(
    not THP.exists() or "[never]" in THP.read_text(), reason="no transparent huge pages"
)
def test_huge_pages_cut_the_faults_and_the_heap_is_then_left_alone() -> None:
    default = _settled_faults("default")["faults"]
    huge = _settled_faults("keep", HUGE_PAGES_ENV)
    assert huge["applied"] is False  # one cure per process: together they were erratic
    assert huge["faults"] < default // 10  # 2 MB pages


def test_keep_freed_memory_does_nothing_outside_the_main_thread() -> None:
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(keep_freed_memory()))
    worker.start()
    worker.join()
    assert seen == [False]
