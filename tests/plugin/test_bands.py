"""Row bands on threads: every row once, on several threads, errors raised, nesting inline."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from bgmatte.plugin.bands import MIN_ROWS, bands, in_bands


def test_bands_cover_the_rows_once() -> None:
    for rows, parts in ((1080, 2), (1080, 7), (100, 8), (5, 4), (MIN_ROWS * 3, 3)):
        got = bands(rows, parts)
        assert np.array_equal(np.concatenate([np.arange(rows)[b] for b in got]), np.arange(rows))
        assert len(got) == max(1, min(parts, rows // MIN_ROWS))


def test_work_runs_on_several_threads_and_writes_every_row() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        out = np.zeros(300, np.int64)
        names: set[str] = set()
        together = threading.Barrier(3, timeout=10)  # broken unless three bands run at once

        def work(band: slice) -> None:
            names.add(threading.current_thread().name)
            together.wait()
            out[band] += np.arange(300)[band]

        in_bands(work, 300)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(out, np.arange(300))
    assert len(names) == 3 and threading.current_thread().name in names


def test_an_error_in_a_band_is_raised_and_bands_do_not_nest() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:

        def fails(band: slice) -> None:
            if band.start > 0:
                raise ValueError("band failed")

        with pytest.raises(ValueError, match="band failed"):
            in_bands(fails, 200)
        inner: list[int] = []

        def nested(band: slice) -> None:
            in_bands(lambda b: inner.append(b.stop - b.start), band.stop - band.start)

        in_bands(nested, 200)
    finally:
        torch.set_num_threads(threads)
    assert sorted(inner) == [100, 100]  # each outer band ran its inner work as one band


def test_a_forked_child_bands_on_its_own_pool_and_the_classical_path_needs_no_torch() -> None:
    """After the parent's pool exists, a forked child still runs its bands (it makes its own
    pool: the parent's threads are not in it), and the modules that use bands do not load
    PyTorch (a classical render would pay seconds for it)."""
    import multiprocessing
    import subprocess
    import sys

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        in_bands(lambda band: None, 200)  # the parent's pool
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.apply_async(_band_sum, (200,)).get(timeout=30) == sum(range(200))
    finally:
        torch.set_num_threads(threads)
    code = (
        "import sys, bgmatte.plugin.engines.classical, bgmatte.plugin.exposure, "
        "bgmatte.plugin.foreground; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _band_sum(rows: int) -> int:
    torch.set_num_threads(2)  # bands on threads here too, so the child's pool is used
    out = np.zeros(rows, np.int64)

    def work(band: slice) -> None:
        out[band] = np.arange(rows)[band]

    in_bands(work, rows)
    return int(out.sum())


def test_chunks_cover_each_band_once_and_are_no_taller_than_asked() -> None:
    seen: list[slice] = []
    lock = threading.Lock()

    def work(band: slice) -> None:
        with lock:
            seen.append(band)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        in_bands(work, 1000, chunk=64)
    finally:
        torch.set_num_threads(threads)
    rows = sorted(r for band in seen for r in range(band.start, band.stop))
    assert rows == list(range(1000))
    assert max(band.stop - band.start for band in seen) <= 64
    assert len(seen) == 16  # two bands of 500 rows, 8 chunks each
