"""Per-pixel NumPy work cut into row bands and run on the threads PyTorch is given.

NumPy runs each operation on one core, while the network's PyTorch stages use every thread
the caller allows (``torch.set_num_threads``: the command line, the bench and hosts set it).
Arithmetic whose output row depends only on input rows near it (an elementwise expression,
a minimum over small shifts) gives the same bits whichever band of rows it is computed in, so
:func:`in_bands` splits the frame into one band per thread; NumPy releases the GIL inside
each operation, so the bands run at once.

A band's work may not start bands itself (it runs inline then), so a pool thread never waits
on the pool: hosts that call from several threads share it without deadlock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

MIN_ROWS = 32  # rows below which a band is not worth a thread
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_inside = threading.local()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:  # a larger one when threads are raised
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgmatte-band")
            _pool_size = workers
        return _pool


def bands(rows: int, parts: int) -> list[slice]:
    """``rows`` cut into at most ``parts`` contiguous bands of near-equal height, none under
    :data:`MIN_ROWS` (one band for a short frame)."""
    parts = max(1, min(parts, rows // MIN_ROWS))
    edges = [rows * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def in_bands(work: Callable[[slice], None], rows: int) -> None:
    """Run ``work(band)`` for bands of ``rows`` covering them all, one per PyTorch thread, the
    first on the calling thread. ``work`` writes its band's results (into an array made
    beforehand); an exception in any band is raised here."""
    parts = bands(rows, 1 if getattr(_inside, "flag", False) else torch.get_num_threads())

    def run(band: slice) -> None:
        _inside.flag = True
        try:
            work(band)
        finally:
            _inside.flag = False

    if len(parts) == 1:
        work(parts[0])
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(run, band) for band in parts[1:]]
    try:
        run(parts[0])
    finally:
        for future in futures:
            future.result()
