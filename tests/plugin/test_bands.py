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
