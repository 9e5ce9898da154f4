"""The public Python call: ``bgmatte.matte``. Every host and every benchmark uses it."""

from __future__ import annotations

from typing import Any

import numpy as np

from bgmatte.plugin.params import resolve_params
from bgmatte.plugin.solve import Matte, solve

__all__ = ["Matte", "matte"]


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
        plate, clean_plate: float32 H×W×3 or H×W×4 images (alpha ignored) in ``colorspace``.
        segmentation: optional H×W (or H×W×1/3/4) soft segmentation of the subject, a prior.
        background: optional H×W×3 new background; gives ``.composite``.
        colorspace: OCIO colour space of the colour inputs; converted to the working space
            (the config's ``scene_linear`` role). Default: already in the working space.
        device: "cpu", or "cuda" for the CuPy kernels.
        **params: node parameters by name (see ``bgmatte.plugin.params.PARAMS``).

    Returns:
        :class:`Matte` with ``.alpha``, ``.foreground`` (unpremultiplied, linear),
        ``.rgba`` (premultiplied), ``.composite`` and the debug passes.
    """
    values = resolve_params({**params, "colorspace": colorspace})
    src = values["colorspace"]
    if src not in ("auto", "scene_linear"):
        from bgmatte.plugin import colour  # OCIO only when a conversion is asked for

        plate = colour.to_working(np.asarray(plate, np.float32), src, "plate")
        clean_plate = colour.to_working(np.asarray(clean_plate, np.float32), src, "clean_plate")
        if background is not None:
            background = colour.to_working(np.asarray(background, np.float32), src, "background")
    return solve(plate, clean_plate, segmentation, background, values, device)
