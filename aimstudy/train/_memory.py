"""Keep freed memory inside the training process, so large per-batch tensors are not re-faulted.

glibc's malloc serves every allocation above 32 MB with a fresh ``mmap`` and returns it on
``free``. The benchmark MPNN allocates several 160 MB per-edge tensors in every backward pass,
so each one is faulted in page by page again: on 3-D QM9 at batch 32 that was a third of the
CPU time of an AIM step (benchmarks/README.md). Serving them from the heap and never trimming it
keeps the pages mapped; the process then holds its peak memory until it exits, as a caching
allocator would.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # the largest value mallopt takes (an int): 2 GiB of free heap top


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed memory instead of unmapping it; True if it applied.

    Takes effect for allocations made from the calling thread's arena (the main thread for
    ``aimstudy train``); a no-op on other C libraries and platforms.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt  # glibc only (musl has none)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
