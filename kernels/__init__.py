"""bgmatte.kernels: the compositing maths, one NumPy body and one CuPy twin per kernel.

The NumPy bodies (:mod:`bgmatte.kernels.numpy_kernels`) are re-exported here. The CuPy twins
(:mod:`bgmatte.kernels.cupy_kernels`) have the same names and signatures and take and return
cupy arrays; pick the module for a device with :func:`for_device`::

    k = for_device("cuda")        # or "cpu"
    fg = k.unmix_foreground(plate, clean_plate, alpha)

The classical key's per-pixel maths (:mod:`bgmatte.kernels.keying`) is NumPy only: the
classical engine runs on the CPU. Importing this package, or
``bgmatte.kernels.cupy_kernels``, never imports CuPy.
"""

from __future__ import annotations

import re
from types import ModuleType

from bgmatte.errors import BgmatteError, param
from bgmatte.kernels.numpy_kernels import (
    composite,
    over,
    premultiply,
    regularised_unmix,
    unmix_foreground,
    unpremultiply,
)

__all__ = [
    "composite",
    "cupy_available",
    "for_device",
    "gpu_index",
    "over",
    "premultiply",
    "regularised_unmix",
    "unmix_foreground",
    "unpremultiply",
]

_CUDA = re.compile(r"(?:cuda|gpu)(?::(\d+))?")


def _cupy_problem(index: int | None = None) -> str | None:
    """Why CuPy cannot run here (None when it can): import failure, or no CUDA device."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library failing to load
        return f"cannot import cupy: {exc}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # cudaErrorNoDevice, driver too old, ...
        return f"no usable CUDA device: {exc}"
    if count == 0:
        return "no CUDA device found"
    if index is not None and index >= count:
        return f"CUDA device {index} requested, {count} present"
    return None


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _cupy_problem() is None


def _gpu_match(device: str) -> re.Match[str] | None:
    """None for ``"cpu"``; the match of ``"cuda"``, ``"cuda:N"`` or ``"gpu"`` (group 1: N or
    None). Raises :class:`BgmatteError` for an unknown device name."""
    name = str(device).strip().lower()
    if name == "cpu":
        return None
    match = _CUDA.fullmatch(name)
    if match is None:
        raise BgmatteError(
            param("device"), f"unknown device {device!r}", "use 'cpu', 'cuda', 'cuda:N' or 'gpu'"
        )
    return match


def gpu_index(device: str) -> int | None:
    """None for ``"cpu"``; the GPU index for ``"cuda"``, ``"cuda:N"`` or ``"gpu"`` (0 when
    not given). Raises :class:`BgmatteError` for an unknown device name."""
    match = _gpu_match(device)
    return None if match is None else int(match.group(1) or 0)


def for_device(device: str) -> ModuleType:
    """The kernel module for a device: ``"cpu"`` -> NumPy bodies; ``"cuda"``, ``"cuda:N"``
    or ``"gpu"`` -> CuPy twins (the caller selects device N, e.g. ``cupy.cuda.Device(N)``).

    Raises :class:`BgmatteError` for an unknown device name, or when CuPy or a CUDA GPU is
    missing.
    """
    match = _gpu_match(device)
    if match is None:
        from bgmatte.kernels import numpy_kernels

        return numpy_kernels
    problem = _cupy_problem(int(match.group(1)) if match.group(1) else None)
    if problem is not None:
        raise BgmatteError(
            param("device"),
            f"CuPy with a CUDA GPU is not available ({problem})",
            "install bgmatte[gpu] on a machine with an NVIDIA GPU, or set "
            f"{param('device')} to 'cpu'",
        )
    from bgmatte.kernels import cupy_kernels

    return cupy_kernels
