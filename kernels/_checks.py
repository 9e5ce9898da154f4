"""Shape and parameter checks shared by the NumPy bodies and their CuPy twins.

They read only ``.shape`` (and, for the small per-channel vectors, host values), so the same
check guards both backends and both raise the same :class:`BgmatteError` for the same input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bgmatte.errors import BgmatteError


def image(shape: tuple[int, ...], name: str, channels: int | None = None) -> int:
    """Check an H×W×C image shape (C fixed when ``channels`` is given); return C."""
    if len(shape) != 3 or (channels is not None and shape[2] != channels):
        want = f"H×W×{channels}" if channels is not None else "H×W×C"
        raise BgmatteError(
            name,
            f"expected a {want} channel-last image, got shape {tuple(shape)}",
            f"pass a {want} float32 array",
        )
    if shape[2] < 1:
        raise BgmatteError(name, "the image has no channels", "pass at least one channel")
    return int(shape[2])


def same_image(shape: tuple[int, ...], name: str, like: tuple[int, ...], like_name: str) -> None:
    """Check that an image has exactly the shape of another one."""
    if tuple(shape) != tuple(like):
        raise BgmatteError(
            name,
            f"shape {tuple(shape)} does not match {like_name} {tuple(like)}",
            f"pass {name} with the same height, width and channels as {like_name}",
        )


def alpha(
    shape: tuple[int, ...], name: str, like: tuple[int, ...], like_name: str, what: str = "alpha"
) -> None:
    """Check an H×W single-channel plane (``what``: an alpha, a weight) against an image's H×W."""
    if tuple(shape) != tuple(like[:2]):
        raise BgmatteError(
            name,
            f"expected an H×W {what} matching {like_name} {tuple(like[:2])}, got {tuple(shape)}",
            "pass a single-channel H×W float32 array of the image's size",
        )


def per_channel(value: Sequence[float] | np.ndarray, name: str, channels: int) -> np.ndarray:
    """Turn a per-channel parameter (sequence or array of length C) into a float32 vector."""
    vec = np.asarray(value, dtype=np.float32)
    if vec.shape != (channels,):
        raise BgmatteError(
            name,
            f"expected {channels} per-channel values, got shape {vec.shape}",
            f"pass a sequence of {channels} numbers, one per channel",
        )
    if not np.all(np.isfinite(vec)):
        raise BgmatteError(
            name, f"values must be finite, got {vec.tolist()}", "pass finite numbers"
        )
    return vec


def positive(vec: np.ndarray, name: str, allow_zero: bool) -> None:
    """Check that a variance vector is > 0 (or >= 0 where ``allow_zero``)."""
    bad = vec < 0 if allow_zero else vec <= 0
    if np.any(bad):
        rel = ">= 0" if allow_zero else "> 0"
        raise BgmatteError(
            name,
            f"every value must be {rel}, got {vec.tolist()}",
            f"pass variances {rel} (estimate them from a flat patch of the clean plate)",
        )


def scalar_range(lo: float, hi: float) -> tuple[np.float32, np.float32]:
    """Check the edges of a smoothstep: finite and distinct."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if not (np.isfinite(lo32) and np.isfinite(hi32)) or lo32 == hi32:
        raise BgmatteError(
            "lo/hi",
            f"smoothstep edges must be finite and distinct, got lo={lo}, hi={hi}",
            "pass two different finite numbers",
        )
    return lo32, hi32
