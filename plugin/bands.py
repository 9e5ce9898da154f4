"""Per-pixel NumPy work cut into row bands and run on the threads PyTorch is given.

NumPy runs each operation on one core, while the network's PyTorch stages use every thread
the caller allows (``torch.set_num_threads``: the command line, the bench and hosts set it;
a process that has not loaded PyTorch, as a classical render, uses the CPUs it may run on,
and is not made to load it: that alone takes seconds).
Arithmetic whose output row depends only on input rows near it (an elementwise expression,
a minimum over small shifts) gives the same bits whichever band of rows it is computed in, so
:func:`in_bands` splits the frame into one band per thread; NumPy releases the GIL inside
each operation, so the bands run at once.

A band's work may not start bands itself (it runs inline then), so a pool thread never waits
on the pool: hosts that call from several threads share it without deadlock. A forked child
(a data worker) makes its own pool: the parent's threads are not in it.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MIN_ROWS = 32  # rows below which a band is not worth a thread
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0
_pool_lock = threading.Lock()
_inside = threading.local()


def threads() -> int:
    """How many bands: PyTorch's thread count where it is loaded, else this process's CPUs."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        # a larger one when threads are raised; a new one in a forked child
        if _pool is None or _pool_size < workers or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgmatte-band")
            _pool_size, _pool_pid = workers, os.getpid()
        return _pool


# rows a thread works on at a time where a whole band's per-pixel temporaries would be several
# frame-sized buffers (``in_bands(..., CHUNK)``)
CHUNK = 64


def bands(rows: int, parts: int, min_rows: int = MIN_ROWS) -> list[slice]:
    """``rows`` cut into at most ``parts`` contiguous bands of near-equal height, none under
    ``min_rows`` (one band for a short frame)."""
    parts = max(1, min(parts, rows // min_rows))
    edges = [rows * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def in_bands(
    work: Callable[[slice], None], rows: int, chunk: int | None = None, min_rows: int = MIN_ROWS
) -> None:
    """Run ``work(band)`` for bands of ``rows`` covering them all, one per :func:`threads`, the
    first on the calling thread. ``work`` writes its band's results (into an array made
    beforehand); an exception in any band is raised here. With ``chunk``, each thread calls
    ``work`` on at most ``chunk`` rows at a time, so its temporaries are a chunk's, not its
    whole band's (the same bits: a row's result depends only on rows near it). ``rows`` may
    count other items than rows (strips of a frame, say), each worth a thread: ``min_rows``
    1."""
    parts = bands(rows, 1 if getattr(_inside, "flag", False) else threads(), min_rows)

    def chunked(band: slice) -> None:
        step = chunk or band.stop - band.start or 1
        for start in range(band.start, band.stop, step):
            work(slice(start, min(start + step, band.stop)))

    def run(band: slice) -> None:
        _inside.flag = True
        try:
            chunked(band)
        finally:
            _inside.flag = False

    if len(parts) == 1:
        chunked(parts[0])
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(run, band) for band in parts[1:]]
    try:
        run(parts[0])
    finally:
        for future in futures:
            future.result()
