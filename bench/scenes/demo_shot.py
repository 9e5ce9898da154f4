"""A procedural demo shot with exact ground truth, built in memory (no downloads).

The subject has what makes matting hard: a soft-edged body, hair-like strands a pixel wide,
a semi-transparent veil and a specular highlight above 1.0, over an HDR background with
bright lights (values well above 1.0). The clean plate is a second capture of the background:
its own Poisson–Gaussian sensor noise, a slight exposure change and white-balance shift, as a
clean plate shot minutes later has. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class DemoShot:
    """One frame of the demo and its ground truth (float32, scene-linear Rec.709)."""

    plate: np.ndarray  # H×W×3
    clean_plate: np.ndarray  # H×W×3
    alpha: np.ndarray  # H×W ground truth
    foreground: np.ndarray  # H×W×3 ground truth, unpremultiplied
    background: np.ndarray  # H×W×3 a new background for the composite pass
    exposure_stops: float
    white_balance: tuple[float, float, float]


def texture(
    rng: np.random.Generator, h: int, w: int, scales: tuple[float, ...], falloff: float = 0.5
) -> np.ndarray:
    """Band-limited noise in [-1, 1]: octaves at ``scales`` (Gaussian σ, px), each weighted
    ``falloff`` times the previous."""
    out = np.zeros((h, w), np.float32)
    for i, s in enumerate(scales):
        n = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), s)
        out += n / (n.std() + 1e-8) * falloff**i
    return out / np.abs(out).max()


#: Exposure (-0.1 stop) and white-balance drift of the generated shots' clean plates.
CLEAN_PLATE_DRIFT = np.float32(2.0**-0.1) * np.array([1.02, 1.0, 0.98], np.float32)


def capture(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """``img`` as a camera records it: Poisson–Gaussian sensor noise (read σ 0.002, shot gain
    0.0006, Gaussian approximation), drawn from ``rng``. Every generated shot uses it."""
    read, shot = 0.002, 0.0006
    sigma = np.sqrt(read**2 + shot * np.clip(img, 0, None))
    return (img + sigma * rng.standard_normal(img.shape)).astype(np.float32)


def hdr_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A sky gradient with texture, a window frame and practical lights far above 1.0."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([0.25 + 0.2 * y / h, 0.3 + 0.15 * y / h, 0.45 - 0.1 * y / h], -1)
    tex = texture(rng, h, w, (2.0, 6.0, 18.0))[..., None]
    bg = sky * (1.0 + 0.35 * tex) + 0.08 * texture(rng, h, w, (1.0, 3.0))[..., None]
    # A window frame (sharp edges) and a few practical lights far above 1.0.
    bg[int(0.1 * h) : int(0.14 * h), :] *= 0.3
    bg[:, int(0.8 * w) : int(0.82 * w)] *= 0.25
    for cy, cx, power in ((0.18, 0.12, 12.0), (0.3, 0.9, 6.0), (0.75, 0.07, 3.0)):
        r2 = (y - cy * h) ** 2 + (x - cx * w) ** 2
        bg += power * np.exp(-r2 / (2 * (0.015 * w) ** 2))[..., None] * np.array([1.0, 0.85, 0.6])
    return np.clip(bg, 0.005, None).astype(np.float32)


def _strands(rng: np.random.Generator, h: int, w: int, roots: np.ndarray, n: int) -> np.ndarray:
    """Coverage of ``n`` thin curved strands starting at ``roots`` (K×2, y/x)."""
    density = np.zeros((h, w), np.float32)
    for _ in range(n):
        y0, x0 = roots[rng.integers(len(roots))]
        angle = rng.uniform(-np.pi, 0.0)
        curl = rng.normal(0.0, 0.02)
        length = rng.uniform(0.08, 0.22) * h
        steps = int(length * 2)
        pos = np.array([y0, x0], np.float64)
        width = rng.uniform(0.35, 0.8)
        for _ in range(steps):
            angle += curl + rng.normal(0.0, 0.03)
            pos += 0.5 * np.array([np.sin(angle), np.cos(angle)])
            iy, ix = int(pos[0]), int(pos[1])
            if 0 <= iy < h and 0 <= ix < w:
                density[iy, ix] += width
    cover = ndimage.gaussian_filter(density, 0.6) * 2.5
    return (1.0 - np.exp(-cover)).astype(np.float32)


def make_demo_shot(height: int = 360, width: int = 640, seed: int = 7) -> DemoShot:
    """Build the demo frame (see module docstring)."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = hdr_background(rng, h, w)

    # Body: head and shoulders, soft-edged (defocus-like blur of a hard silhouette).
    head = ((x - 0.5 * w) / (0.11 * w)) ** 2 + ((y - 0.38 * h) / (0.17 * h)) ** 2 < 1.0
    body = ((x - 0.5 * w) / (0.26 * w)) ** 2 + ((y - 1.05 * h) / (0.42 * h)) ** 2 < 1.0
    neck = (np.abs(x - 0.5 * w) < 0.05 * w) & (y > 0.45 * h) & (y < 0.7 * h)
    solid = (head | body | neck).astype(np.float32)
    alpha = ndimage.gaussian_filter(solid, 1.2)

    # Hair: strands rooted on the top of the head.
    t = rng.uniform(np.pi * 1.05, np.pi * 1.95, 60)
    roots = np.stack([0.38 * h + 0.16 * h * np.sin(t), 0.5 * w + 0.1 * w * np.cos(t)], -1)
    hair = _strands(rng, h, w, roots, 140)
    alpha = 1.0 - (1.0 - alpha) * (1.0 - hair)

    # A semi-transparent veil over one shoulder.
    veil = ((x - 0.7 * w) / (0.1 * w)) ** 2 + ((y - 0.62 * h) / (0.12 * h)) ** 2 < 1.0
    veil_a = 0.45 * ndimage.gaussian_filter(veil.astype(np.float32), 2.0)
    alpha = 1.0 - (1.0 - alpha) * (1.0 - veil_a)
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)

    skin = np.array([0.55, 0.36, 0.27], np.float32)
    cloth = np.array([0.08, 0.16, 0.35], np.float32)
    hair_c = np.array([0.12, 0.07, 0.035], np.float32)
    veil_c = np.array([0.7, 0.12, 0.1], np.float32)
    tex = 1.0 + 0.15 * texture(rng, h, w, (1.0, 4.0))[..., None]
    fg = np.where((y < 0.58 * h)[..., None], skin, cloth) * tex
    hair_w = np.clip(hair * 1.5, 0, 1)[..., None] * (1.0 - head[..., None])
    fg = fg * (1 - hair_w) + hair_c * hair_w
    veil_w = np.clip(veil_a / 0.45, 0, 1)[..., None] * (1 - body[..., None])
    fg = fg * (1 - veil_w) + veil_c * veil_w
    spec = np.exp(-(((x - 0.47 * w) ** 2 + (y - 0.3 * h) ** 2) / (2 * (0.012 * w) ** 2)))
    fg = fg + 2.5 * spec[..., None]  # a highlight above 1.0 on the forehead
    fg = np.where(alpha[..., None] > 1e-3, fg, 0.0).astype(np.float32)

    plate = capture(rng, alpha[..., None] * fg + (1 - alpha[..., None]) * bg)
    stops = -0.15
    wb = (1.03, 1.0, 0.97)
    clean = capture(rng, bg * (2.0**stops) * np.array(wb, np.float32))
    checker = ((x // 40 + y // 40) % 2).astype(np.float32)[..., None]
    new_bg = (0.1 + 0.25 * checker) * np.array([0.5, 0.9, 0.6], np.float32)
    return DemoShot(plate, clean, alpha, fg, new_bg.astype(np.float32), stops, wb)
