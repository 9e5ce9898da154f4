"""PNG contact sheets: every stage of a matte side by side, labelled, for a person to look at.

Tiles go through :mod:`bgmatte.plugin.display` (sRGB for colour, grey for mattes) and its
grid; OpenImageIO resizes them to one width and draws the labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import OpenImageIO as oiio

from bgmatte.plugin import display


def _tile(label: str, pixels: np.ndarray, width: int) -> np.ndarray:
    shown = display.to_display(pixels)
    h, w = shown.shape[:2]
    height = max(1, round(h * width / w))
    src = oiio.ImageBuf(np.ascontiguousarray(shown, dtype=np.float32))
    dst = oiio.ImageBufAlgo.resize(src, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    oiio.ImageBufAlgo.render_text(dst, 6, 20, label, 16, "", (1.0, 1.0, 0.2))
    return display.to_uint8(np.asarray(dst.get_pixels(oiio.FLOAT)))


def contact_sheet(
    tiles: Sequence[tuple[str, np.ndarray]], columns: int = 4, width: int = 320
) -> np.ndarray:
    """Lay out labelled tiles (label, linear pixels) in a grid; returns H×W×3 uint8."""
    images = [_tile(label, px, width) for label, px in tiles]
    tile_h = max(i.shape[0] for i in images)
    padded = []
    for img in images:  # every tile as tall as the tallest, so the grid's cells line up
        cell = np.full((tile_h, width, 3), 31, np.uint8)
        cell[: img.shape[0]] = img
        padded.append(cell)
    rows = [padded[i : i + columns] for i in range(0, len(padded), columns)]
    return display.grid(rows, gap=4, fill=31)
