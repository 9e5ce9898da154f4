"""Pictures for people: linear pixels to display sRGB, tiles laid out in a grid, 8-bit PNGs.

Every stage image (training grids, contact sheets, previews) goes through here. Display only:
values are clipped to [0, 1] and given the sRGB transfer (IEC 61966-2-1) on the way to the
screen, never in the data. Mattes (2-D or one-channel arrays) show as grey without the curve.
The PNG writer needs only zlib, so training writes its pictures where OpenImageIO is missing.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from bgmatte.errors import BgmatteError


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light to display-encoded sRGB in [0, 1] (NaN shows as 0, HDR clips to 1)."""
    x = np.clip(np.nan_to_num(np.asarray(linear, np.float32)), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def is_matte(pixels: np.ndarray) -> bool:
    """True for a 2-D or one-channel array: a matte, shown as grey without the curve."""
    a = np.asarray(pixels)
    return a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1)


def to_display(pixels: np.ndarray) -> np.ndarray:
    """H×W×3 float32 display RGB in [0, 1] from linear H×W×C (C ≥ 3: the first three) or a
    matte (H×W or H×W×1: grey, clipped, no curve)."""
    img = np.asarray(pixels, np.float32)
    if is_matte(img):
        grey = np.clip(np.nan_to_num(img.reshape(img.shape[:2])), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2)
    return srgb_encode(img[..., :3]).astype(np.float32)


def to_uint8(display: np.ndarray) -> np.ndarray:
    """Display values in [0, 1] (clipped) to 8 bits, rounded."""
    return (np.clip(display, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def tile(pixels: np.ndarray) -> np.ndarray:
    """Linear pixels or a matte as an H×W×3 uint8 tile for :func:`grid`."""
    return to_uint8(to_display(pixels))


def grid(rows: list[list[np.ndarray]], gap: int = 2, fill: int = 30) -> np.ndarray:
    """Tile H×W×3 uint8 images into rows and columns (every image as large as the first),
    ``gap`` pixels of grey ``fill`` between them."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) + gap, cols * (w + gap) + gap, 3), fill, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = gap + i * (h + gap), gap + j * (w + gap)
            out[y : y + img.shape[0], x : x + img.shape[1]] = img
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # grey, RGB, RGBA (PNG specification, IHDR)


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write display-encoded pixels as an 8-bit PNG, atomically (temp file + rename).

    ``pixels`` is H×W or H×W×C (C = 1, 3 or 4): uint8 as is, floats as 0..1 (clipped).
    """
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _COLOUR_TYPE or 0 in a.shape[:2]:
        raise BgmatteError(
            str(path), f"cannot write a PNG of shape {a.shape}", "pass H×W×1, 3 or 4 pixels"
        )
    if a.dtype != np.uint8:
        a = np.rint(np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0) * 255.0)
    img = np.ascontiguousarray(a, dtype=np.uint8)
    h, w, c = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE[c], 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; pictures follow the umask
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise
