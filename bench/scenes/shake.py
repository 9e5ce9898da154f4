"""Generated hand-held shots with a known camera shake, for the alignment tests and benchmark.

The plate is the demo subject (:func:`bgmatte.bench.scenes.demo_shot.make_demo_shot`: soft body,
strands, veil) over a textured HDR background with lights far above 1.0. The clean plate sees
the same background through a camera that moved: a rotation about a random point plus a
translation, scaled so that no pixel of the frame moves more than ``shake_px``. It has its
own sensor noise and a slight exposure / white-balance drift, as a clean plate shot minutes
later has.

Both images are rendered from one 2× supersampled background (a margin around the frame so
the shaken camera still sees texture), the clean plate through the exact warp, then box
filtered to the frame's resolution; so the only difference between them is the camera
motion, the noise and the drift. Deterministic for a given seed.

:func:`make_parallax_shot` adds a near layer: textured posts and a rail between the camera
and the far background. A clean plate shot from a slightly different place sees the near layer
shift further than the far one (parallax), so no single homography aligns both: after
alignment to the dominant far layer, the near layer stays misregistered by about
``parallax_px``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.bench.scenes.demo_shot import CLEAN_PLATE_DRIFT, capture, make_demo_shot, texture
from bgmatte.plugin.pixels import box_down

_SS = 2  # supersampling of the background


@dataclass(frozen=True)
class ShakenShot:
    """One hand-held frame with its ground truth (float32, scene-linear)."""

    plate: np.ndarray  # H×W×3
    clean_plate: np.ndarray  # H×W×3 seen from the shaken camera
    steady_clean_plate: np.ndarray  # H×W×3 the same capture from the plate's camera (no shake)
    alpha: np.ndarray  # H×W ground truth
    background: np.ndarray  # H×W×3 the noiseless background as the plate sees it
    homography: np.ndarray  # 3×3 true map plate pixel -> clean-plate pixel
    shake_px: float  # largest displacement of the true map over the frame, px


def max_displacement(homography: np.ndarray, height: int, width: int, step: int = 8) -> float:
    """Largest ``|H x - x|`` over a grid of pixel centres covering the frame, px."""
    pts = grid_points(height, width, step)
    return float(np.linalg.norm(apply_homography(homography, pts) - pts, axis=1).max())


def grid_points(height: int, width: int, step: int) -> np.ndarray:
    """Pixel centres every ``step`` px, plus the last row and column: N×2 (x, y) float64."""
    ys = np.unique(np.r_[np.arange(0, height, step), height - 1])
    xs = np.unique(np.r_[np.arange(0, width, step), width - 1])
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], -1).astype(np.float64)


def apply_homography(homography: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map N×2 (x, y) points through a 3×3 homography."""
    h = np.asarray(homography, np.float64)
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    return q[:, :2] / q[:, 2:3]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A supersampled HDR background: smooth sky, multi-scale texture, sharp bars, lights."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([0.25 + 0.2 * y / h, 0.3 + 0.15 * y / h, 0.45 - 0.1 * y / h], -1)
    tex = texture(rng, h, w, (2.0 * _SS, 5.0 * _SS, 14.0 * _SS), falloff=0.6)[..., None]
    bg = sky * (1.0 + 0.45 * tex)
    bg[int(0.12 * h) : int(0.16 * h), :] *= 0.3
    bg[:, int(0.78 * w) : int(0.8 * w)] *= 0.25
    for _ in range(6):
        cy, cx = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)
        power = rng.uniform(2.0, 12.0)
        r2 = (y - cy * h) ** 2 + (x - cx * w) ** 2
        bg += power * np.exp(-r2 / (2 * (0.012 * w) ** 2))[..., None] * np.array([1.0, 0.85, 0.6])
    return np.clip(bg, 0.005, None).astype(np.float32)


def _rigid(angle: float, cx: float, cy: float, tx: float, ty: float) -> np.ndarray:
    """Rotation by ``angle`` (rad) about (cx, cy), then a translation (tx, ty)."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1.0]])
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]]) @ rot


def shake_homography(
    rng: np.random.Generator, height: int, width: int, shake_px: float
) -> np.ndarray:
    """A rotation about a random point in the frame plus a translation, scaled so the largest
    displacement over the frame is ``shake_px`` (bisection on the common scale)."""
    if shake_px <= 0.0:
        return np.eye(3)
    angle = rng.uniform(-1.0, 1.0) * 0.01  # rad at scale 1
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    tx, ty = rng.standard_normal(2)
    lo, hi = 0.0, 1.0
    while max_displacement(_rigid(angle * hi, cx, cy, tx * hi, ty * hi), height, width) < shake_px:
        hi *= 2.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        m = _rigid(angle * mid, cx, cy, tx * mid, ty * mid)
        if max_displacement(m, height, width) > shake_px:
            hi = mid
        else:
            lo = mid
    return _rigid(angle * lo, cx, cy, tx * lo, ty * lo)


def make_shaken_shot(
    height: int = 240, width: int = 320, shake_px: float = 6.0, seed: int = 0
) -> ShakenShot:
    """Build one shaken frame (see module docstring)."""
    rng = np.random.default_rng(seed)
    subject = make_demo_shot(height, width, seed=seed + 1)
    margin = int(np.ceil(shake_px)) + 4
    big = _background(rng, _SS * (height + 2 * margin), _SS * (width + 2 * margin))
    truth = shake_homography(rng, height, width, shake_px)

    # Frame pixel x (centre) <-> supersampled index i = SS * (x + margin) + (SS - 1) / 2.
    def to_big(off: float) -> np.ndarray:
        o = _SS * off + 0.5 * (_SS - 1)
        return np.array([[_SS, 0, o], [0, _SS, o], [0, 0, 1.0]])

    hs, ws = _SS * height, _SS * width
    crop = big[_SS * margin : _SS * margin + hs, _SS * margin : _SS * margin + ws]
    bg = box_down(crop, _SS)
    # Clean-plate pixel u sees the background at plate pixel truth^-1 u.
    inv = to_big(margin) @ np.linalg.inv(truth) @ np.linalg.inv(to_big(0.0))
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    seen = cv2.warpPerspective(big, inv, (ws, hs), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    shaken_bg = box_down(seen, _SS)

    a = subject.alpha[..., None]
    plate = capture(rng, a * subject.foreground + (1 - a) * bg)
    drift = CLEAN_PLATE_DRIFT
    clean = capture(rng, shaken_bg * drift)
    steady = capture(rng, bg * drift)
    return ShakenShot(
        plate=plate,
        clean_plate=clean,
        steady_clean_plate=steady,
        alpha=subject.alpha,
        background=bg,
        homography=truth,
        shake_px=max_displacement(truth, height, width),
    )


@dataclass(frozen=True)
class ParallaxShot:
    """One hand-held frame with a near layer that moves differently (float32, linear)."""

    plate: np.ndarray  # H×W×3
    clean_plate: np.ndarray  # H×W×3 from the moved camera
    alpha: np.ndarray  # H×W ground truth of the subject
    near: np.ndarray  # H×W coverage of the near layer in the plate
    parallax_px: float  # the near layer's extra shift in the clean plate


def _near_layer(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Supersampled near layer: colour H×W×3 and coverage H×W (posts and a rail, textured)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cover = np.zeros((h, w), np.float32)
    for cx in rng.uniform(0.05, 0.95, 3) * w:
        cover = np.maximum(cover, (np.abs(x - cx) < 0.035 * w).astype(np.float32))
    rail = np.abs(y - rng.uniform(0.6, 0.8) * h) < 0.04 * h
    cover = np.maximum(cover, rail.astype(np.float32))
    tex = texture(rng, h, w, (1.5 * _SS, 4.0 * _SS), falloff=0.7)[..., None]
    colour = np.array([0.35, 0.22, 0.12], np.float32) * (1.0 + 0.6 * tex)
    return np.clip(colour, 0.01, None).astype(np.float32), cover


def make_parallax_shot(
    height: int = 240,
    width: int = 320,
    shake_px: float = 4.0,
    parallax_px: float = 3.0,
    seed: int = 0,
) -> ParallaxShot:
    """A shaken frame (as :func:`make_shaken_shot`) whose near layer moves ``parallax_px``
    further than the far background, in a random direction."""
    rng = np.random.default_rng(seed)
    subject = make_demo_shot(height, width, seed=seed + 1)
    margin = int(np.ceil(shake_px + parallax_px)) + 4
    bh, bw = _SS * (height + 2 * margin), _SS * (width + 2 * margin)
    far = _background(rng, bh, bw)
    near_rgb, near_cover = _near_layer(rng, bh, bw)
    truth = shake_homography(rng, height, width, shake_px)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    extra = np.array(
        [[1, 0, parallax_px * np.cos(angle)], [0, 1, parallax_px * np.sin(angle)], [0, 0, 1.0]]
    )

    def to_big(off: float) -> np.ndarray:
        o = _SS * off + 0.5 * (_SS - 1)
        return np.array([[_SS, 0, o], [0, _SS, o], [0, 0, 1.0]])

    hs, ws = _SS * height, _SS * width
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP

    def seen(img: np.ndarray, motion: np.ndarray) -> np.ndarray:
        inv = to_big(margin) @ np.linalg.inv(motion) @ np.linalg.inv(to_big(0.0))
        return cv2.warpPerspective(img, inv, (ws, hs), flags=flags, borderMode=cv2.BORDER_REPLICATE)

    def scene(motion_far: np.ndarray, motion_near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = seen(far, motion_far)
        layer = seen(np.dstack([near_rgb * near_cover[..., None], near_cover]), motion_near)
        a = np.clip(layer[..., 3:], 0.0, 1.0)
        return box_down(layer[..., :3] + (1.0 - a) * f, _SS), box_down(a, _SS)[..., 0]

    bg, near_a = scene(np.eye(3), np.eye(3))
    moved, _ = scene(truth, extra @ truth)

    a = subject.alpha[..., None]
    plate = capture(rng, a * subject.foreground + (1 - a) * bg)
    clean = capture(rng, moved * CLEAN_PLATE_DRIFT)
    return ParallaxShot(plate, clean, subject.alpha, near_a.astype(np.float32), parallax_px)
