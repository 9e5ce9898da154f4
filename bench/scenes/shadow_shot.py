"""Generated shots of the demo subject casting a shadow on the set and adding light to it,
with the true shadow factor, the true added light and the true matte.

The set B is an HDR background; the subject (alpha, F) is the demo's. The shadow is the
subject's matte moved by ``offset`` px, blurred by ``softness`` px and scaled by ``strength``:
``S = 1 - strength · blur(shift(alpha)) · sky``, by default a little bluer than neutral
(skylight fills shadows). The light is a glow of the subject's colour ``glow`` around it:
``L = glow · blur(alpha, reach)``. The plate is ``alpha·F + (1-alpha)·(B·S + L)`` and the
clean plate is ``B``, each captured with its own sensor noise and the clean plate a little
darker (an exposure change the node must match). A new background and the true composite
over it come with the shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.bench.scenes import demo_shot as demo


@dataclass(frozen=True)
class ShadowShot:
    """One frame and its truth (float32, scene-linear)."""

    plate: np.ndarray  # H×W×3
    clean_plate: np.ndarray  # H×W×3
    alpha: np.ndarray  # H×W
    foreground: np.ndarray  # H×W×3
    shadow: np.ndarray  # H×W true factor on the set (1: untouched)
    light: np.ndarray  # H×W×3 true added light as the plate shows it: (1 - alpha)·L
    background: np.ndarray  # H×W×3 a new background
    composite: np.ndarray  # H×W×3 the true composite over it, shadow and light carried


def _shifted(alpha: np.ndarray, dx: float, dy: float) -> np.ndarray:
    move = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    h, w = alpha.shape
    return cv2.warpAffine(alpha, move, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def make_shadow_shot(
    height: int = 360,
    width: int = 640,
    seed: int = 7,
    offset: tuple[float, float] = (40.0, 25.0),
    softness: float = 8.0,
    strength: float = 0.5,
    glow: tuple[float, float, float] = (0.0, 0.0, 0.0),
    reach: float = 30.0,
    sky: tuple[float, float, float] = (1.04, 1.0, 0.96),
) -> ShadowShot:
    """The demo subject over a new set with its shadow (``strength`` 0: none; ``sky``: its
    colour, the share of each channel it takes) and its glow (``glow`` 0: none); sizes in px
    of this frame."""
    rng = np.random.default_rng(seed)
    subject = demo.make_demo_shot(height, width, seed=seed)
    alpha, fg = subject.alpha, subject.foreground
    bg = demo.hdr_background(rng, height, width)
    cast = cv2.GaussianBlur(_shifted(alpha, *offset), (0, 0), max(softness, 0.1))
    tint = np.asarray(sky, np.float32)
    shadow3 = np.clip(1.0 - strength * cast[..., None] * tint, 0.0, 1.0).astype(np.float32)
    spread = cv2.GaussianBlur(alpha, (0, 0), max(reach, 0.1))
    added = (spread[..., None] * np.asarray(glow, np.float32)).astype(np.float32)
    a = alpha[..., None]
    plate = demo.capture(rng, a * fg + (1 - a) * (bg * shadow3 + added))
    clean = demo.capture(rng, bg * np.float32(2.0**-0.1))
    shadow = np.exp(np.log(shadow3).mean(axis=2)).astype(np.float32)
    new_bg = demo.hdr_background(np.random.default_rng(seed + 1000), height, width) * 0.7
    light = ((1 - a) * added).astype(np.float32)
    composite = a * fg + (1 - a) * new_bg * shadow[..., None] + light
    return ShadowShot(
        plate, clean, alpha, fg, shadow, light, new_bg.astype(np.float32),
        composite.astype(np.float32),
    )  # fmt: skip
