"""The Python host: ``bgmatte.matte``, the node on one still held in memory.

A thin call over :class:`bgmatte.plugin.node.Node` with an :class:`ArrayFetcher`, so colour
conversion, checks, the engine and the foreground solve are exactly the node's (the same
code the command line and OpenFX run).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.arrays import ArrayFetcher
from bgmatte.plugin.node import Node
from bgmatte.plugin.passes import Matte

__all__ = ["Matte", "matte"]


def _check_dtype(name: str, pixels: np.ndarray) -> None:
    """Refuse integer and boolean arrays: bgmatte takes linear light as floats, and an 8- or
    16-bit array is display-encoded, which only the caller knows how to decode."""
    kind = np.asarray(pixels).dtype
    if kind.kind != "f":
        raise BgmatteError(
            name,
            f"is a {kind} array; bgmatte takes scene-linear floating point (float16, 32 or 64)",
            "decode it to linear light as floats first (8/16-bit pictures are display-encoded: "
            "divide by 255 or 65535, then pass colorspace= the space they are in)",
        )


def matte(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None = None,
    background: np.ndarray | None = None,
    *,
    colorspace: str = "scene_linear",
    device: str = "cpu",
    **params: Any,
) -> Matte:
    """Pull a matte from a plate and its clean plate.

    Args:
        plate, clean_plate: float H×W×3 or H×W×4 images (alpha ignored) in ``colorspace``;
            float16, float32 and float64 are taken as they are, integer arrays are refused.
        segmentation: optional H×W (or H×W×1/3/4) soft segmentation of the subject, a prior.
        background: optional H×W×3 new background; gives ``.composite``.
        colorspace: OCIO colour space of the colour inputs; converted to the working space
            (the config's ``scene_linear`` role). Default: already in the working space.
        device: "cpu", or "cuda" for the network and the CuPy kernels on a GPU.
        **params: node parameters by name (see ``bgmatte.plugin.params.PARAMS``).

    Returns:
        :class:`Matte` with ``.alpha``, ``.foreground`` (unpremultiplied, linear),
        ``.rgba`` (premultiplied), ``.composite`` and the debug passes.
    """
    for name, pixels in (
        ("plate", plate),
        ("clean_plate", clean_plate),
        ("segmentation", segmentation),
        ("background", background),
    ):
        if pixels is not None:
            _check_dtype(name, pixels)
    node = Node({**params, "colorspace": colorspace}, device=device, cache_frames=0)
    fetcher = ArrayFetcher(
        plate=plate, clean_plate=clean_plate, segmentation=segmentation, background=background
    )
    return node.solve_frame(1, fetcher)
