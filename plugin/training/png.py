"""A dependency-free PNG writer (zlib + struct) for training image grids, so training runs
where OpenImageIO is not installed (a rented GPU machine, say)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write H×W×3 uint8 as an 8-bit RGB PNG, atomically."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = img.shape[:2]
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def to_display(linear: np.ndarray) -> np.ndarray:
    """Linear (H, W, 3) or matte (H, W) → display uint8 (sRGB curve; display only)."""
    x = np.asarray(linear, np.float32)
    if x.ndim == 2:
        return (np.repeat(np.clip(x, 0, 1)[..., None], 3, 2) * 255 + 0.5).astype(np.uint8)
    x = np.clip(np.nan_to_num(x), 0.0, 1.0)
    x = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return (x * 255 + 0.5).astype(np.uint8)


def grid(rows: list[list[np.ndarray]], gap: int = 2) -> np.ndarray:
    """Tile equally sized uint8 H×W×3 images into rows and columns."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) + gap, cols * (w + gap) + gap, 3), 30, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = gap + i * (h + gap), gap + j * (w + gap)
            out[y : y + h, x : x + w] = img
    return out
