"""Frame-sized buffers kept in the process's heap from one frame to the next (glibc).

glibc serves an allocation above its mmap threshold (adjusted as the program runs, but never
past 32 MiB on 64-bit Linux) with fresh pages from the kernel, and gives them back on free
(``mallopt(3)``). A 4K plane in float32 is 33 MB, just past it: every such temporary,
every frame, is new memory whose pages are faulted in and zeroed on first touch, while an
HD plane (8 MB) is reused from the heap. Raising the mmap and trim thresholds keeps freed
frames in the heap for the next: ``bgmatte bench speed --sizes HD,4K`` (an Intel Xeon with
AMX, 2 threads) 4K 1.78 -> 1.57 s a frame, peak RSS 1.56 -> 1.60 GiB; HD unchanged.

The setting is the process's, so it is made only where the process is ours: the command
line (renders, benches, training) and the farm's workers. A host's process (the OpenFX
plugin, a Python session calling ``bgmatte.matte``) keeps its allocator as its owner set it;
it may call :func:`keep_frames_in_heap` itself. ``BGMATTE_HEAP=system`` leaves the
allocator as it is everywhere. The cost: memory freed between frames stays with the process
(its peak is what it was).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20  # past a 4K RGBA float32 frame (133 MB)
TRIM_THRESHOLD = 512 << 20  # free heap kept at its top before any goes back to the kernel
OPT_OUT = "BGMATTE_HEAP"
_kept = False


def keep_frames_in_heap() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring) for this process;
    whether they are set (False: not glibc, or ``BGMATTE_HEAP=system``, or refused)."""
    global _kept
    if os.environ.get(OPT_OUT, "") == "system" or not sys.platform.startswith("linux"):
        return _kept
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return _kept
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _kept


def described() -> str:
    """The heap's setting in this process, for ``bgmatte info``."""
    if _kept:
        return f"heap: frame buffers reused from frame to frame (glibc; {OPT_OUT}=system: not)"
    return "heap: the allocator's default"
