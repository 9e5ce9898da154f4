"""How an input's pixels line up with the plate's: data and display windows.

Nuke's bounding-box model: the plate (Source) sets the frame. Its display window is the
format and its data window is the region bgmatte renders and writes. Every other input
(clean plate, segmentation, background) is read in the same pixel coordinates:

- its display window must be the plate's, since a different format means a different
  picture, which only the artist can reformat;
- its data window is placed where it lies: pixels outside the plate's data window are
  dropped, and plate pixels it does not cover repeat its nearest edge pixel (as the OpenFX
  bridge does with clip bounds), so a slightly smaller clean plate still keys;
- a data window that does not overlap the plate's at all is an error.

Coordinates are pixels with y down (EXR's), windows as (x, y, width, height).
"""

from __future__ import annotations

import numpy as np

from bgmatte.errors import BgmatteError

Window = tuple[int, int, int, int]  # x, y, width, height


def edge_indices(start: int, count: int, source_start: int, source_count: int) -> np.ndarray:
    """For positions ``start .. start+count-1``, the indices into a run of ``source_count``
    samples that starts at ``source_start``; positions outside the run take its nearest end."""
    return np.clip(np.arange(start, start + count) - source_start, 0, source_count - 1)


def overlaps(a: Window, b: Window) -> bool:
    """Whether two windows share at least one pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def place(pixels: np.ndarray, data: Window, target: Window, name: str) -> np.ndarray:
    """``pixels`` (H×W×C over data window ``data``) on the ``target`` data window, edge
    pixels repeated where ``data`` does not cover it; ``name`` (input and file) for the
    error when the two do not overlap."""
    if data == target:
        return pixels
    if not overlaps(data, target):
        raise BgmatteError(
            name,
            f"its data window {data} does not overlap the plate's {target} (x, y, width, height)",
            "give it pixels where the plate has them, or reformat it to the plate",
        )
    rows = edge_indices(target[1], target[3], data[1], data[3])
    cols = edge_indices(target[0], target[2], data[0], data[2])
    return pixels[np.ix_(rows, cols)]


def same_format(full: Window, plate_full: Window, name: str, plate_name: str) -> None:
    """Raise unless an input's display window is the plate's (formats of another size are
    named as resolutions, as validate names them for in-memory inputs)."""
    if full == plate_full:
        return
    if full[:2] == plate_full[:2] == (0, 0):
        raise BgmatteError(
            name,
            f"is {full[2]}x{full[3]} but the plate is {plate_full[2]}x{plate_full[3]}",
            "reformat it to the plate's resolution before matting",
        )
    raise BgmatteError(
        name,
        f"has display window {full} but the plate {plate_name} has {plate_full} (x, y, "
        "width, height)",
        "reformat it to the plate's format",
    )
