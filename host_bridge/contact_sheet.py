"""PNG contact sheets: every stage of a matte side by side, labelled, for a person to look at.

Display only: linear pixels get the sRGB transfer (values above 1.0 clip on screen, never in
the data). One-channel passes show as grey.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import OpenImageIO as oiio


def to_display(pixels: np.ndarray) -> np.ndarray:
    """Linear H×W×C (C = 1 or 3+) to display-encoded sRGB RGB float in [0, 1]."""
    img = np.asarray(pixels, np.float32)
    if img.ndim == 2:
        img = img[..., None]
    img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]
    img = np.clip(np.nan_to_num(img), 0.0, 1.0)
    return np.where(img <= 0.0031308, 12.92 * img, 1.055 * img ** (1 / 2.4) - 0.055)


def _tile(label: str, pixels: np.ndarray, width: int, mono: bool) -> np.ndarray:
    shown = np.asarray(pixels, np.float32) if mono else to_display(pixels)
    if shown.ndim == 2:
        shown = shown[..., None]
    if shown.shape[2] == 1:
        shown = np.repeat(np.clip(shown, 0, 1), 3, axis=2)
    h, w = shown.shape[:2]
    height = max(1, round(h * width / w))
    src = oiio.ImageBuf(np.ascontiguousarray(shown, dtype=np.float32))
    dst = oiio.ImageBufAlgo.resize(src, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    oiio.ImageBufAlgo.render_text(dst, 6, 20, label, 16, "", (1.0, 1.0, 0.2))
    return np.asarray(dst.get_pixels(oiio.FLOAT))


def contact_sheet(
    tiles: Sequence[tuple[str, np.ndarray]], columns: int = 4, width: int = 320
) -> np.ndarray:
    """Lay out labelled tiles (label, linear pixels) in a grid; returns H×W×3 uint8.

    Mattes (2-D or one-channel arrays) are shown as grey without the sRGB curve.
    """
    images = [
        _tile(label, px, width, mono=np.asarray(px).ndim == 2 or np.asarray(px).shape[2] == 1)
        for label, px in tiles
    ]
    tile_h = max(i.shape[0] for i in images)
    rows = (len(images) + columns - 1) // columns
    gap = 4
    sheet = np.full(
        (rows * (tile_h + gap) + gap, columns * (width + gap) + gap, 3), 0.12, np.float32
    )
    for n, img in enumerate(images):
        r, c = divmod(n, columns)
        y0, x0 = gap + r * (tile_h + gap), gap + c * (width + gap)
        sheet[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
    return (np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)
