"""Stop the kernel faulting in the MPNN's large per-batch tensors again and again.

The benchmark MPNN allocates several 170 MB per-edge tensors in every backward pass, and AIM runs
that backward once per task. glibc hands each one out as a fresh ``mmap`` that the kernel zeroes
and faults in 4 KB at a time: on 3-D QM9 that was a third of an AIM step's CPU time. Two cures,
measured in benchmarks/README.md, one per process (together they were erratic):

- ``keep_freed_memory``: glibc serves large blocks from its heap and never trims it, so freed
  tensors are reused without any fault or zeroing. Fastest, but only for the main thread's
  allocations; ``run_trial`` applies it when it runs there (``aimstudy train``). The process
  then holds its peak memory until it exits, as a caching allocator would.
- ``HUGE_PAGES_ENV``: torch aligns large CPU tensors to 2 MB and asks for transparent huge pages
  (17× fewer faults in tests/train/test_memory.py; the zeroing stays). Works in any thread,
  so Ray's workers get it, whose trials run in a worker thread; torch reads it at its first
  allocation, hence an environment variable set when the worker starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

HUGE_PAGES_ENV = {"THP_MEM_ALLOC_ENABLE": "1"}

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_MAX = -4
# glibc stores the threshold as a size_t, so -1 means "never trim". The largest positive int
# (2 GiB) was not enough: an AIM step on the MPNN frees more than that at once, so the heap was
# trimmed and faulted in again every step (2.6 M faults in 9 steps, against 0.8 M).
_NEVER_TRIM = -1


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory instead of unmapping it; True if it applied.

    Applies only in the main thread (other threads' arenas map large blocks whatever the
    setting), and not where torch already uses huge pages; a no-op off Linux and glibc.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if any(os.environ.get(key, "0") not in ("0", "") for key in HUGE_PAGES_ENV):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt  # glibc only (musl has none)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
