"""A generated shot of a moving subject, with exact ground truth per frame.

The demo subject (soft body, pixel-wide strands, veil, highlight above 1.0) drifts sideways
``speed`` px per frame and bobs up and down (at most 0.6 × ``speed``) over a static HDR
background, filmed by a locked-off camera: each frame is a new capture with its own sensor
noise, and one clean plate (a separate capture, slightly different exposure and white
balance) serves the whole shot. The subject layer is moved as premultiplied colour and alpha
(Lanczos resampling, so strands keep their sharpness at every sub-pixel phase), so the
ground truth is exact at every frame. Used to measure temporal flicker (dtSSD) and
render-order independence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.bench.scenes import demo_shot as demo


@dataclass(frozen=True)
class MovingShot:
    """Frames 1..N of a locked-off shot (float32, scene-linear Rec.709)."""

    plates: list[np.ndarray]  # N × H×W×3
    alphas: list[np.ndarray]  # N × H×W ground truth
    clean_plate: np.ndarray  # H×W×3, one for the shot
    offsets: list[tuple[float, float]]  # N × the subject's (dx, dy) in px

    def carried(self, image: np.ndarray, src: int, dst: int) -> np.ndarray:
        """An H×W image on frame ``src`` (0-based) moved exactly as the subject moves to frame
        ``dst`` (Lanczos, not clipped): e.g. a matte's error, as it would be on ``dst`` if it
        moved with the subject."""
        (x0, y0), (x1, y1) = self.offsets[src], self.offsets[dst]
        return _moved(np.ascontiguousarray(image, dtype=np.float32), x1 - x0, y1 - y0)


def _moved(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LANCZOS4, borderValue=0.0)


LOOKS = ("day", "neon", "backlit")


def make_moving_shot(
    frames: int = 8,
    height: int = 180,
    width: int = 320,
    speed: float = 1.3,
    seed: int = 11,
    look: str = "day",
) -> MovingShot:
    """``frames`` frames; the subject moves ``speed`` px per frame on average.

    ``look``: 'day' is the demo's palette; 'neon' re-lights the scene as the training data
    never is (a dim teal background two stops down, the subject under a magenta key light),
    'backlit' puts the subject against a bright window (background 3.5 stops up, nearly all
    of it above 1.0; subject one stop down): both for measuring self-supervised adaptation.
    """
    if look not in LOOKS:
        raise ValueError(f"look {look!r} is not one of {LOOKS}")
    rng = np.random.default_rng(seed)
    subject = demo.make_demo_shot(height, width, seed=seed)
    bg = demo.hdr_background(rng, height, width)
    fg = subject.foreground
    if look == "neon":
        bg = bg * np.array([0.08, 0.3, 0.28], np.float32)
        fg = fg * np.array([1.6, 0.35, 1.3], np.float32)
    elif look == "backlit":  # against a bright window: background 3.5 stops up, subject 1 down
        bg = bg * np.float32(12.0)
        fg = fg * np.float32(0.5)
    premult = np.dstack([fg * subject.alpha[..., None], subject.alpha])

    plates, alphas, offsets = [], [], []
    for i in range(frames):
        dx = speed * (i - frames / 2)
        dy = 0.6 * speed * np.sin(0.9 * i)  # a bob, as large as the drift allows
        offsets.append((float(dx), float(dy)))
        layer = _moved(premult, dx, dy)
        a = np.clip(layer[..., 3], 0.0, 1.0)
        plates.append(demo.capture(rng, layer[..., :3] + (1.0 - a[..., None]) * bg))
        alphas.append(a.astype(np.float32))
    clean = demo.capture(rng, bg * demo.CLEAN_PLATE_DRIFT)
    return MovingShot(plates, alphas, clean, offsets)
