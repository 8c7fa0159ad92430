"""Large tensors freed and allocated again: no page faults with glibc's heap kept, few with
huge pages; each cure only where it works."""

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

N_FLOATS = 40_000_000  # 160 MB, the size of the MPNN's per-edge weights at batch 32
PAGES = N_FLOATS * 4 // resource.getpagesize()
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# A fresh interpreter each time: both settings are process-wide, and torch reads its variable
# once, at its first allocation.
SCRIPT = """
import json, resource, sys, torch
from aimstudy.train._memory import keep_freed_memory

def faults(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(n)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

n = int(sys.argv[1])
applied = keep_freed_memory() if sys.argv[2] == "keep" else None
faults(n)
print(json.dumps({"applied": applied, "faults": faults(n)}))
"""


def _second_allocation(mode: str, env: dict[str, str] | None = None) -> dict[str, object]:
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
def test_kept_heap_reallocates_without_page_faults() -> None:
    assert _second_allocation("default")["faults"] > PAGES // 2  # a fresh mmap every time
    kept = _second_allocation("keep")
    assert kept["applied"] is True
    assert kept["faults"] < PAGES // 100


@pytest.mark.skipif(
    not THP.exists() or "[never]" in THP.read_text(), reason="no transparent huge pages"
)
def test_huge_pages_cut_the_faults_and_the_heap_is_then_left_alone() -> None:
    huge = _second_allocation("keep", HUGE_PAGES_ENV)
    assert huge["applied"] is False  # one cure per process: together they were erratic
    assert huge["faults"] < PAGES // 20  # 2 MB pages


def test_keep_freed_memory_does_nothing_outside_the_main_thread() -> None:
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(keep_freed_memory()))
    worker.start()
    worker.join()
    assert seen == [False]
