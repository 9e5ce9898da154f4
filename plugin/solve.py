"""One frame, start to finish: checks, the engine, then the linear-light foreground unmix.

This is the single place where a matte is made; :func:`bgmatte.matte` and the node (and so
every host) call it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bgmatte import kernels
from bgmatte.errors import BgmatteError
from bgmatte.plugin import foreground, validate
from bgmatte.plugin.align import align
from bgmatte.plugin.engines import get_engine


@dataclass(frozen=True)
class Matte:
    """The result for one frame. All arrays float32, scene-linear, in the working space.

    ``alpha * foreground + (1 - alpha) * clean_plate == plate`` wherever alpha > 0, where
    ``clean_plate`` is the clean plate as the engine used it (exposure-matched, aligned).
    """

    alpha: np.ndarray  # H×W in [0, 1]
    foreground: np.ndarray  # H×W×3 unpremultiplied, unclipped
    clean_plate: np.ndarray  # H×W×3 the clean plate as used
    difference: np.ndarray  # H×W×3
    segmentation: np.ndarray  # H×W
    error: np.ndarray  # H×W
    composite: np.ndarray | None = None  # H×W×3, when a background was given
    params: Mapping[str, Any] = field(default_factory=dict)
    plate: np.ndarray | None = None  # H×W×3 the plate as solved (checked, working space)
    background: np.ndarray | None = None  # H×W×3 the background, when one was given

    @property
    def rgba(self) -> np.ndarray:
        """Premultiplied foreground with alpha, H×W×4: what a compositor merges over."""
        return kernels.premultiply(self.foreground, self.alpha)

    def pass_pixels(self, name: str) -> np.ndarray:
        """The named output pass (see ``bgmatte.plugin.params.PASSES``) as H×W×C."""
        if name == "rgba":
            return self.rgba
        if name == "foreground":
            return self.foreground
        if name == "composite":
            if self.composite is None:
                raise BgmatteError(
                    "background", "is not connected", "connect a background for the composite pass"
                )
            return self.composite
        if name == "aligned_clean_plate":
            return self.clean_plate
        if name == "difference":
            return self.difference
        single = {"alpha": self.alpha, "segmentation": self.segmentation, "error": self.error}
        return single[name][..., None]


def unmix(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | None,
    device: str = "cpu",
    mode: str = "regularised",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The linear-light foreground for ``alpha`` (``mode``: see :mod:`.foreground`), and its
    composite over ``background`` (None without one), on ``device`` (CuPy kernels on a GPU)."""
    k = kernels.for_device(device)
    if k is not kernels.numpy_kernels:  # pragma: no cover - needs a GPU
        import cupy

        put, get = cupy.asarray, cupy.asnumpy
    else:
        put = get = np.asarray
    a = put(alpha)
    if mode == "exact":
        fg = k.unmix_foreground(put(plate), put(clean_plate), a)
    else:
        prior, weight = foreground.prior_and_weight(plate, clean_plate, alpha)
        fg = k.regularised_unmix(put(plate), put(clean_plate), a, put(prior), put(weight))
    comp = None if background is None else get(k.composite(fg, a, put(background)))
    return get(fg), comp


def solve(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    background: np.ndarray | None,
    params: Mapping[str, Any],
    device: str = "cpu",
    progress: Callable[[float], None] | None = None,
    where: str = "",
) -> Matte:
    """Check the inputs, align the clean plate, run the engine, unmix the foreground.

    Inputs in the working space. ``progress`` is called with the fraction done between
    stages (hosts show it, and may raise :class:`RenderAborted` from it to stop). ``where``
    names the frame in warnings (the node passes "frame N, plate <file>")."""

    def done(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    kernels.gpu_index(device)  # an unknown device name fails here, before any work
    policy = params["nan"]
    p = validate.finite(validate.as_rgb(plate, "plate"), "plate", policy)
    c = validate.as_rgb(clean_plate, "clean_plate")
    validate.same_size(c, p, "clean_plate")
    c = validate.finite(c, "clean_plate", policy)
    seg = None
    if segmentation is not None:
        seg = validate.as_matte(segmentation, "segmentation")
        validate.same_size(seg, p, "segmentation")
        seg = validate.finite(seg, "segmentation", policy)
    bg = None
    if background is not None:
        bg = validate.as_rgb(background, "background")
        validate.same_size(bg, p, "background")
        bg = validate.finite(bg, "background", policy)

    # Hand-held: the clean plate is aligned to this frame before the engine, so both engines
    # (and their exposure match) see aligned pixels.
    done(0.05)
    c = align(p, c, params["align"], where).clean_plate
    done(0.15)
    result = get_engine(params["engine"])(p, c, seg, params, device)
    done(0.9)
    fg, comp = unmix(p, result.clean_plate, result.alpha, bg, device, params["unmix"])
    return Matte(
        alpha=result.alpha,
        foreground=fg,
        clean_plate=result.clean_plate,
        difference=result.difference,
        segmentation=result.segmentation,
        error=result.error,
        composite=comp,
        params=dict(params),
        plate=p,
        background=bg,
    )
