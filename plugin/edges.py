"""Soft edges solved again against the clean plate, with a foreground colour constant nearby.

Where alpha is fractional the plate is ``P = a F + (1 - a) B``, with B, the clean plate,
known: three equations in four unknowns per pixel. Taking F as constant over a small
Gaussian window (sigma :data:`SIGMA` px) makes it determined, and it is solved by
alternating (all pixels at once, from the engine's alpha):

- F in each window is the least-squares colour given alpha, the normal equation of
  ``sum w |P - a F - (1 - a) B|²``: ``F = sum w a (P - (1 - a) B) / sum w a²``;
- alpha at each pixel is the projection of ``P - B`` onto ``F - B`` (the alpha step of
  Chuang et al., "A Bayesian approach to digital matting", CVPR 2001, with B known, as in
  Smith and Blinn's "Blue screen matting", SIGGRAPH 1996).

Only the pixels the engine left fractional change, so the band stays where the engine put it,
and each is trusted by how far its F stands from B in noise sigmas (4 to 8; the noise of the
pixel's own difference, or of F where the window holds little alpha, whichever is larger):
where the subject's colour is close to the set's (camouflage) the engine's alpha stands. Dense
strands the network keys as one soft mass open up: a window's first F mixes strands and the set
between them, which already projects the gaps towards 0, and the next F is the strands' own.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from bgmatte.kernels import keying
from bgmatte.plugin.bands import in_bands
from bgmatte.plugin.noise import MAD_TO_SIGMA, samples

SIGMA = 1.0  # px: the window over which the foreground colour is taken as constant
TRUST = (4.0, 8.0)  # noise sigmas between F and B: from no trust to full trust
MIN_WEIGHT = 0.05  # the window's alpha² weight below which F is not measured
_STRIP = 64  # rows: the band is solved in strips, each over its own columns
_GAP = 32  # columns without fractional pixels that split a strip into two boxes
NOISE_SAMPLES = 50_000  # a robust spread per channel: plenty


def noise_sigma(plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Per channel, the robust standard deviation of ``plate - clean_plate`` where alpha is 0
    (a fixed budget of samples; all of them where too few are background)."""
    at = samples(alpha.size, NOISE_SAMPLES)
    d = plate.reshape(-1, 3)[at] - clean_plate.reshape(-1, 3)[at]
    background = alpha.reshape(-1)[at] == 0.0
    if background.sum() >= 200:
        d = d[background]
    sigma = []
    for c in np.ascontiguousarray(d.T):  # a channel at a time: contiguous
        sigma.append(MAD_TO_SIGMA * np.median(np.abs(c - np.median(c))) + 1e-6)
    return np.asarray(sigma, np.float32)


class _Strip(NamedTuple):
    """A strip of rows with fractional pixels: the box (rows ``ys``, columns ``xs``) the blur
    reads, the terms the blur takes over it (``terms``: a (P - (1 - a) B) in channels 0-2,
    a² in 3, for the current alpha), and the strip's fractional pixels: their place in the
    frame (``fy``, ``fx``) and in the box (``at``, flat), their clean plate and plate - clean
    plate (3×N) and the engine's alpha."""

    ys: slice
    xs: slice
    terms: np.ndarray
    fy: np.ndarray
    fx: np.ndarray
    at: np.ndarray
    b: np.ndarray
    d: np.ndarray
    a0: np.ndarray


def _terms(a: np.ndarray, d: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The blur's terms (..., 4) for alpha ``a`` (...), ``d = P - B`` and ``b = B`` (..., 3):
    a r, with r = P - (1 - a) B = d + a b, and a²."""
    a3 = a[..., None]
    return np.concatenate([a3 * (d + a3 * b), a3 * a3], axis=-1).astype(np.float32)


def _strips(
    plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray, soft: np.ndarray, reach: int
) -> list[_Strip]:
    """The fractional pixels in strips of :data:`_STRIP` rows, each strip's box grown by the
    blur's ``reach`` within the frame: the blur covers the band's neighbourhood, not the
    frame, and a pixel of the band is at least ``reach`` from its box's edges (or at the
    frame's, whose border rule the box's then shares)."""
    h, w = soft.shape
    boxes = []
    for top in range(0, h, _STRIP):
        rows = soft[top : top + _STRIP]
        rx = np.flatnonzero(rows.any(axis=0))
        # each run of columns with fractional pixels its own box (a silhouette's two sides,
        # say), so the blur skips what lies between them
        for run in np.split(rx, np.flatnonzero(np.diff(rx) > _GAP) + 1) if rx.size else []:
            c0, c1 = int(run[0]), int(run[-1]) + 1
            ry = np.flatnonzero(rows[:, c0:c1].any(axis=1))
            y0, y1 = top + int(ry[0]), top + int(ry[-1]) + 1
            ys = slice(max(y0 - reach, 0), min(y1 + reach, h))
            xs = slice(max(c0 - reach, 0), min(c1 + reach, w))
            boxes.append((y0, y1, c0, c1, ys, xs))
    out: list[_Strip | None] = [None] * len(boxes)

    def make(which: slice) -> None:  # the strips' planes on every thread
        for i in range(which.start, which.stop):
            y0, y1, c0, c1, ys, xs = boxes[i]
            b = np.ascontiguousarray(clean_plate[ys, xs], dtype=np.float32)
            d = np.ascontiguousarray(plate[ys, xs], dtype=np.float32) - b
            a = alpha[ys, xs]
            fy, fx = np.nonzero(soft[y0:y1, c0:c1])
            fy += y0
            fx += c0
            at = (fy - ys.start) * (xs.stop - xs.start) + (fx - xs.start)
            b_at, d_at = b.reshape(-1, 3)[at].T.copy(), d.reshape(-1, 3)[at].T.copy()
            out[i] = _Strip(ys, xs, _terms(a, d, b), fy, fx, at, b_at, d_at, a.reshape(-1)[at])

    in_bands(make, len(boxes), 1, min_rows=1)
    return [s for s in out if s is not None]


def _links(strips: list[_Strip]) -> list[list[tuple[int, np.ndarray, np.ndarray]]]:
    """For each strip, the fractional pixels of every strip (itself and its neighbours) that
    lie in its box: (that strip, which of its pixels, their flat places in the box)."""
    out = []
    for t in strips:
        links = []
        width = t.xs.stop - t.xs.start
        for i, s in enumerate(strips):
            if s.fy[-1] < t.ys.start or s.fy[0] >= t.ys.stop:  # fy ascends
                continue
            inside = (s.fy >= t.ys.start) & (s.fy < t.ys.stop)
            inside &= (s.fx >= t.xs.start) & (s.fx < t.xs.stop)
            which = np.flatnonzero(inside)
            links.append((i, which, (s.fy[which] - t.ys.start) * width + s.fx[which] - t.xs.start))
        out.append(links)
    return out


def _solved(s: _Strip, k: int, noise: np.ndarray) -> np.ndarray:
    """The strip's fractional pixels solved once from the terms in its box."""
    sums = cv2.GaussianBlur(s.terms, (k, k), SIGMA, borderType=cv2.BORDER_REFLECT)
    at = sums.reshape(-1, 4)[s.at].T  # 4×N
    den = at[3]  # sum w a²
    # sum w² a²: F's noise is the difference's times sqrt(sum w² a²) / sum w a², large where
    # the window holds little alpha
    g2 = cv2.getGaussianKernel(k, SIGMA, cv2.CV_32F) ** 2
    a2 = np.ascontiguousarray(s.terms[..., 3])
    den2 = cv2.sepFilter2D(a2, -1, g2, g2, borderType=cv2.BORDER_REFLECT).reshape(-1)[s.at]
    inv = 1.0 / np.maximum(den, MIN_WEIGHT)
    # F - B per channel; the sums over three channels written out (numpy's reductions over a
    # short axis are slow)
    f_b = [at[c] * inv - s.b[c] for c in range(3)]
    dot = s.d[0] * f_b[0] + s.d[1] * f_b[1] + s.d[2] * f_b[2]
    norm = f_b[0] * f_b[0] + f_b[1] * f_b[1] + f_b[2] * f_b[2]
    projected = np.clip(dot / np.maximum(norm, 1e-12), 0.0, 1.0)
    # F - B in noise sigmas: of the pixel's difference (alpha's own noise) or of F, the larger
    sep = np.sqrt(sum((f_b[c] / noise[c]) ** 2 for c in range(3)))
    sep *= np.minimum(1.0, den / np.sqrt(np.maximum(den2, 1e-12)))
    trust = keying.smoothstep(sep, *TRUST) * (den > MIN_WEIGHT)
    return (trust * projected + (1.0 - trust) * s.a0).astype(np.float32)


def solve_edges(
    plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray, passes: int
) -> np.ndarray:
    """``alpha`` (H×W float32) with its fractional pixels solved again ``passes`` times (see
    the module docstring); ``plate`` and ``clean_plate`` H×W×3 scene-linear."""
    soft = (alpha > 0.0) & (alpha < 1.0)
    if passes <= 0 or not soft.any():
        return alpha
    k = 2 * math.ceil(4.0 * SIGMA) + 1  # as scipy's truncate=4
    noise = noise_sigma(plate, clean_plate, alpha)
    strips = _strips(plate, clean_plate, alpha, soft, k // 2)
    links = _links(strips) if passes > 1 else []
    new = [s.a0 for s in strips]  # each strip's fractional pixels, solved
    terms = [s.terms for s in strips]  # their blur terms, where more passes follow
    more = True

    def solve(which: slice) -> None:  # the strips on every thread
        for i in range(which.start, which.stop):
            new[i] = _solved(strips[i], k, noise)
            if more:
                terms[i] = _terms(new[i], strips[i].d.T, strips[i].b.T)

    def spread(which: slice) -> None:  # each box's terms from the strips it holds
        for t in range(which.start, which.stop):
            flat = strips[t].terms.reshape(-1, 4)
            for i, pixels, at in links[t]:
                flat[at] = terms[i][pixels]

    for n in range(passes):
        # Every strip from the same alpha (Jacobi), then the new values go into the terms of
        # every box that holds them (a box reaches into its neighbours' rows).
        more = n < passes - 1
        in_bands(solve, len(strips), 1, min_rows=1)
        if more:
            in_bands(spread, len(strips), 1, min_rows=1)
    out = alpha.copy()
    for s, a in zip(strips, new, strict=True):
        out[s.fy, s.fx] = a
    return out
