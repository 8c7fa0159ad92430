"""`keep_freed_memory`: a large tensor freed and allocated again is not faulted in again."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)

# Run in a fresh interpreter: the setting is process-wide and other tests' trials turn it on.
SCRIPT = """
import json, resource, sys, torch
from aimstudy.train._memory import keep_freed_memory

def faults(n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(n)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

n = int(sys.argv[1])
faults(n)
default = faults(n)
applied = keep_freed_memory()
faults(n)
print(json.dumps({"default": default, "applied": applied, "kept": faults(n)}))
"""


def test_freed_memory_is_reused_without_page_faults() -> None:
    n = 40_000_000  # 160 MB, the size of the MPNN's per-edge weights at batch 32
    pages = n * 4 // resource.getpagesize()
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(n)], capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout)
    assert seen["default"] > pages // 2  # glibc's default: a fresh mmap every time
    assert seen["applied"] is True
    assert seen["kept"] < pages // 100  # served from the heap that kept it
