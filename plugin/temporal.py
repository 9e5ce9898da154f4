"""Temporal stability: a frame's alpha filtered over a fixed window of its neighbours.

Why a fixed window and not recurrent state: farms split shots into chunks and render them in
any order, so frame N must come out the same however it is reached. Recurrent state (as in
Robust Video Matting) depends on every frame before N; a window N-r..N+r of per-frame mattes
does not, and each per-frame matte is cached, so rendering a shot in order still solves each
frame once. The paper's video model (Sengupta et al. 2020 §3.2) feeds neighbouring frames to
the network as motion cues; the shipped photo model has no such inputs, so the motion cue
is used after the network instead: each neighbour's alpha is carried onto frame N along the
optical flow between the plates (OpenCV DIS, Kroeger et al. 2016) and averaged with a weight
that falls off where the carried plate disagrees with frame N's (occlusions, flow errors).
Sensor noise, which makes a per-frame matte shimmer, is independent from frame to frame and
averages out; the subject's motion is followed, so edges do not smear.

The node then solves the foreground again from frame N's own plate and clean plate with the
filtered alpha (:func:`bgmatte.plugin.solve.unmix`), so the compositing identity holds as it
does for a single frame (to the bit with ``unmix=exact``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from bgmatte.plugin import pixels

SIGMA = 0.04  # plate disagreement (encoded units) at which a neighbour's weight is 1/e


def encode(plate: np.ndarray) -> np.ndarray:
    """H×W×3 scene-linear → H×W×3 asinh-encoded (as the network's input transfer): noise and
    differences weigh alike in shadows and highlights, nothing clips."""
    return (np.arcsinh(np.maximum(plate, 0.0) / 0.05) / np.arcsinh(20.0)).astype(np.float32)


def _flow_image(enc: np.ndarray) -> np.ndarray:
    return np.clip(pixels.luma(enc) * 200.0, 0, 255).astype(np.uint8)


def flow(centre: np.ndarray, other: np.ndarray) -> np.ndarray:
    """H×W×2 flow (x, y) with ``centre(p) ≈ other(p + flow(p))``, both encoded plates."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    return dis.calc(_flow_image(centre), _flow_image(other), None)


def carry(img: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``img`` (of the other frame) sampled at ``p + flow(p)``: carried onto the centre."""
    h, w = f.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        img, gx + f[..., 0], gy + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def stabilise(
    plate: np.ndarray,
    alpha: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Frame N's alpha averaged with its neighbours' (plate, alpha) pairs carried onto it.

    All plates H×W×3 scene-linear of one shot, alphas H×W in [0, 1]. Returns H×W float32.
    """
    if not neighbours:
        return alpha
    enc = encode(plate)
    total = alpha.astype(np.float32).copy()
    weight = np.ones_like(total)
    for other_plate, other_alpha in neighbours:
        other = encode(other_plate)
        f = flow(enc, other)
        carried = carry(np.dstack([other, other_alpha[..., None]]).astype(np.float32), f)
        # Disagreement of the carried plate, blurred a little so a single noisy pixel does not
        # switch a neighbour off; the mean over channels of |difference|.
        miss = cv2.GaussianBlur(np.abs(carried[..., :3] - enc).mean(axis=2), (5, 5), 1.0)
        w = np.exp(-((miss / SIGMA) ** 2)).astype(np.float32)
        total += w * carried[..., 3]
        weight += w
    out = total / weight
    return np.clip(pixels.snap(out), 0.0, 1.0).astype(np.float32)
