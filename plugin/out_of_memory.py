"""Running out of memory, told as a :class:`BgmatteError` that says which memory and what to do.

A frame too large for what is free (an 8K plate on a small GPU, a farm node running many
workers) fails deep inside NumPy, OpenCV, PyTorch or CuPy with that library's own exception
and a traceback; a host would show that or, worse, nothing. :func:`reported` wraps the node's
solve of a frame: the GPU's memory (PyTorch's ``OutOfMemoryError``, CuPy's) and the host's
(``MemoryError``, PyTorch's CPU allocator, OpenCV's "Insufficient memory") each become one
line naming the frame and the fix, and on a GPU the memory the failed frame left cached is
handed back, so the host can go on (with another frame, or with ``device = cpu``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bgmatte.errors import BgmatteError, library_text, param

_HOST_TEXTS = ("DefaultCPUAllocator: can't allocate memory", "Insufficient memory")


def _first_line(err: BaseException) -> str:
    text = library_text(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def on_gpu(err: BaseException) -> bool:
    """Whether ``err`` is a GPU allocation failure (PyTorch's or CuPy's)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, MemoryError) and type(err).__module__.startswith("cupy")


def on_host(err: BaseException) -> bool:
    """Whether ``err`` is a host allocation failure (NumPy's, PyTorch's, OpenCV's)."""
    if on_gpu(err):
        return False
    return isinstance(err, MemoryError) or any(t in str(err) for t in _HOST_TEXTS)


def _release_gpu_memory() -> None:
    """Hand the failed frame's cached GPU memory back (PyTorch's and CuPy's pools)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.get_default_memory_pool().free_all_blocks()


def error(err: BaseException, frame: int) -> BgmatteError | None:
    """The :class:`BgmatteError` for ``err`` on ``frame``; None when it is not about memory."""
    if on_gpu(err):
        return BgmatteError(
            param("device"),
            f"the GPU ran out of memory on frame {frame} ({_first_line(err)})",
            f"set {param('device')} to 'cpu', close the programs that hold GPU memory, or "
            "render a smaller frame",
        )
    if on_host(err):
        return BgmatteError(
            "memory",
            f"this machine ran out of memory on frame {frame} ({_first_line(err)})",
            "close the programs that hold memory, render fewer frames at once (fewer farm "
            f"workers on the machine, a smaller {param('temporal_radius')}), or render a "
            "smaller frame",
        )
    return None


@contextmanager
def reported(frame: int) -> Iterator[None]:
    """Raise running out of memory inside the block as :func:`error`'s BgmatteError."""
    try:
        yield
    except Exception as err:
        told = None if isinstance(err, BgmatteError) else error(err, frame)
        if told is None:
            raise
        if on_gpu(err):
            _release_gpu_memory()
        raise told from err
