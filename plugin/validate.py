"""Checks on the images handed to the node, with messages an artist can act on."""

from __future__ import annotations

import numpy as np

from bgmatte.errors import BgmatteError, param
from bgmatte.plugin.pixels import luma


def as_rgb(pixels: np.ndarray, input_name: str) -> np.ndarray:
    """H×W×3 float32 from an H×W×3 or H×W×4 array (alpha dropped)."""
    arr = np.asarray(pixels)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        got = arr.shape[2] if arr.ndim == 3 else 1 if arr.ndim == 2 else 0
        what = f"{got} channel{'s' if got != 1 else ''}" if got else f"shape {arr.shape}"
        raise BgmatteError(
            input_name,
            f"has {what}, expected 3 (RGB) or 4 (RGBA)",
            "write it as an RGB or RGBA image",
        )
    return np.ascontiguousarray(arr[..., :3], dtype=np.float32)


def as_matte(pixels: np.ndarray, input_name: str) -> np.ndarray:
    """H×W float32 from a one-channel image, or the alpha of RGBA, or the luminance of RGB."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., 3])
    if arr.ndim == 3 and arr.shape[2] == 3:
        return luma(arr).astype(np.float32)
    raise BgmatteError(
        input_name,
        f"has shape {arr.shape}, expected one channel, RGB or RGBA",
        "write the segmentation as a one-channel or RGBA image",
    )


def same_size(pixels: np.ndarray, reference: np.ndarray, input_name: str) -> None:
    """Raise unless ``pixels`` has the plate's height and width."""
    h, w = pixels.shape[:2]
    hr, wr = reference.shape[:2]
    if (h, w) != (hr, wr):
        raise BgmatteError(
            input_name,
            f"is {w}x{h} but the plate is {wr}x{hr}",
            "reformat it to the plate's resolution before matting",
        )


def _extremes(pixels: np.ndarray) -> tuple[float, float]:
    """The smallest and largest value (0, 0 for none); NaN where there is one, since NaN
    propagates through both: two float32 passes, cheaper than one float64 sum."""
    if pixels.size == 0:
        return 0.0, 0.0
    return float(pixels.min()), float(pixels.max())


def finite(pixels: np.ndarray, input_name: str, policy: str) -> np.ndarray:
    """Apply the NaN policy: 'error' raises naming the count, 'zero' replaces them with 0."""
    lo, hi = _extremes(pixels)
    if np.isfinite(lo) and np.isfinite(hi):
        return pixels
    bad = ~np.isfinite(pixels)
    if pixels.ndim == 3:
        bad = bad.any(axis=2)
    count = int(bad.sum())
    if policy == "zero":
        return np.where(np.isfinite(pixels), pixels, 0.0).astype(np.float32)
    raise BgmatteError(
        input_name,
        f"{count} pixel{'s are' if count != 1 else ' is'} NaN or Inf",
        f"fix the source, or set {param('nan')} to 'zero' to replace them with 0",
    )


# |value| bgmatte keys: the foreground solve's products grow with the cube of the signal and
# stay finite in float32 up to about 1e13; no scene-linear picture comes near either.
LIMIT = 1e12


def finite_in_range(pixels: np.ndarray, input_name: str, policy: str) -> np.ndarray:
    """:func:`finite`, then raise unless every value's magnitude is below :data:`LIMIT`
    (float32 products of larger values overflow); one pair of passes for both checks where
    the values are finite, as they almost always are."""
    lo, hi = _extremes(pixels)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        pixels = finite(pixels, input_name, policy)  # raises, or gives them as 0
        lo, hi = _extremes(pixels)
    biggest = max(hi, -lo)
    if biggest >= LIMIT:
        raise BgmatteError(
            input_name,
            f"has values up to {biggest:.3g} in magnitude, beyond the {LIMIT:.0e} bgmatte can "
            "key in float32",
            "scale it down (an exposure change), or fix the source",
        )
    return pixels


def finite_result(pixels: np.ndarray, what: str) -> None:
    """Raise when a result the node is about to hand over is not finite: a fault of ours,
    never passed on to an output file."""
    lo, hi = _extremes(pixels)
    if np.isfinite(lo) and np.isfinite(hi):
        return
    count = int((~np.isfinite(pixels)).sum())
    raise BgmatteError(
        "plate",
        f"gives a {what} with {count} non-finite values",
        "this is a fault of bgmatte: please report it with the input files",
    )
