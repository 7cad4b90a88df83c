"""Big CPU buffers from memory the process already has, not fresh pages from the kernel.

glibc's ``malloc`` serves every block above 32 MiB with its own ``mmap`` and returns it to
the kernel on ``free``. A 10x3 view batch of X3D-XS is 47 MiB, and a model's activations at
30 views are of that size too: each one is then fresh memory, zeroed by the kernel one page
fault at a time (12,000 faults, about 40 ms for the views alone on this project's machine).
Raising the ``mmap`` and trim thresholds makes such blocks come from the heap and stay
there once freed, so the next video's buffers reuse them (once the heap has settled: over
the first few buffers, small allocations made between two of them can still push the next
one onto fresh pages). PyTorch's CPU tuning guide points
the same way (a caching allocator such as jemalloc or tcmalloc, which need ``LD_PRELOAD``);
this is the in-process equivalent for glibc.

The setting is process-wide and lasts: freed memory stays with the process (its resident
size stays at its peak), which suits an inference or evaluation process.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: Blocks up to this size come from the heap, and freed memory up to it is kept.
KEEP_BYTES = 1 << 30

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_applied = False


def keep_freed_memory() -> bool:
    """Serve big CPU allocations from the heap and keep freed ones (glibc ``mallopt``); returns
    whether it is in effect (``False`` where the C library is not glibc or refuses).

    Example:
        >>> from zoo.host_memory import keep_freed_memory
        >>> in_effect = keep_freed_memory()  # True on Linux with glibc
    """
    global _applied
    if _applied:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only: other C libraries' mallopt differs  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES))
    return _applied
