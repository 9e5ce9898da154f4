"""The light the subject adds to the set (glow, bounce): an RGB field ≥ 0, solved jointly
with the shadow wherever the two overlap, after a first keying.

``plate - clean_plate`` on the uncovered set is the added light: positive and smooth. Light
brightens a subject as much as the set beside it, so only the set the matte leaves uncovered
tells it from a bright, smooth subject: the light is found after a first keying, and the
frame is keyed again against ``clean_plate · shadow + light`` (:func:`bgmatte.plugin.solve.key`),
so that a glow, like a cast shadow, is background and not subject.

1. **The light's colour.** Pixels of the uncovered set that brighten by more than
   :data:`BRIGHT` and whose difference is smooth (over a textured set the ratio of added light
   follows the texture while its difference does not) observe the light alone, where most of
   their neighbourhood does too (a glow is broad); fewer than :data:`MIN_SHARE` of the frame
   is no light. The sum of their differences is its colour ``k`` (one per frame: a
   glow takes its colour from the subject or the lamp that casts it).
2. **Shadow and light together.** Where the subject both shades and lights the set (a warm
   glow over its own shadow), ``plate - clean = (s - 1)·clean + g·k``: a neutral darkening of
   the set's own colour and a gain on the light's colour, two unknowns that three channels fix
   wherever the light's colour is not the set's. Solved per pixel by least squares, with
   ``s ≤ 1`` and ``g ≥ 0``; pixels where the two colours are too close to separate
   (:data:`SEPARABLE`) observe nothing.
3. **The field.** Smooth gains past :data:`BRIGHT` of the set's level observe the light;
   smooth gains below half of it observe none; the field is their normalised convolution at
   about 120 px on the long side (:mod:`.fields`), upsampled, times ``k``.

The shadow is then solved on ``plate - light`` (:func:`bgmatte.plugin.shadow.relight`), so a
shadow under a coloured glow, no longer neutral in the plate's ratio, is found.
"""

from __future__ import annotations

import numpy as np

from bgmatte.plugin.fields import EPS, broad, coarse, fill, log_ratio, roughness, up
from bgmatte.plugin.pixels import box_down, luma

_LONG_SIDE = 120  # px: glows are found this coarse, where sensor noise is gone
BARE = 0.1  # alpha up to this (block mean) counts as uncovered set
BRIGHT = 0.06  # log units: added light brightens by more than this
MAX_LIGHT = 0.7  # log units: brighter than this (2×) is not a glow on the set but subject
SMOOTH_LIGHT = 0.015  # a glow's difference varies this little, relative to the set
# A glow lights at least this share of the frame, counting only lit pixels whose
# neighbourhood is mostly lit too (measured at 120 px after the first keying: the bench's glows
# 0.038 and more, a glow reaching 60 px around the subject of an HD frame 0.013; frames without
# one, where parts of a textured set brighten in scattered blocks, 0.0036 at most, val09).
MIN_SHARE = 0.007
SEPARABLE = 0.05  # sin² of the angle between the set's and the light's colours, at least


def _gain(d: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per pixel, the light's gain ``g`` in ``d = (s - 1)·c + g·k`` (least squares, s ≤ 1,
    g ≥ 0); NaN where ``c`` and ``k`` are too close in colour to separate."""
    cc, kk, ck = (c * c).sum(axis=2), float((k * k).sum()), (c * k).sum(axis=2)
    dc, dk = (d * c).sum(axis=2), (d * k).sum(axis=2)
    det = cc * kk - ck * ck
    separable = det > SEPARABLE * cc * kk
    safe = np.where(separable, det, 1.0)
    s = (dc * kk - dk * ck) / safe  # the unconstrained (s - 1)
    g = (cc * dk - ck * dc) / safe
    # A brightening set (s - 1 > 0) is light alone: its gain on k by itself. A negative gain
    # is no light.
    g = np.where(s > 0.0, np.maximum(dk / kk, 0.0), g)
    g = np.where(g < 0.0, 0.0, g)
    return np.where(separable, g, np.nan).astype(np.float32)


def light_field(plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """The light the subject adds to the set (H×W×3 ≥ 0, as it falls on the set, before the
    subject covers any of it; None where there is none), given a first ``alpha``;
    ``clean_plate`` exposure-matched and aligned, without the shadow on."""
    h, w = plate.shape[:2]
    factor, p, c, lum_c, floor = coarse(plate, clean_plate, _LONG_SIDE)
    bare = (box_down(alpha, factor)[..., 0] if factor > 1 else alpha) <= BARE
    mean = log_ratio(p, c).mean(axis=2)
    level = np.maximum(fill(lum_c, bare, 1.0), EPS)
    measurable = bare & (lum_c > floor)
    smooth = measurable & (roughness(luma(p) - lum_c, bare) / level < SMOOTH_LIGHT)
    lit = smooth & (mean > BRIGHT) & (mean < MAX_LIGHT)
    # A glow is broad: a lit pixel needs most of its neighbourhood lit too (as a shadow does,
    # :mod:`.shadow`); scattered blocks of a textured set that brighten (noise, a residue of
    # misregistration) do not.
    lit = broad(lit)
    if lit.sum() < MIN_SHARE * lit.size:
        return None  # too little of the frame is lit for a glow
    d = p - c
    k = np.maximum(d[lit], 0.0).sum(axis=0)
    k = (k / max(float(luma(k)), EPS)).astype(np.float32)  # the light's colour, luma 1
    g = _gain(d, c, k)
    known = measurable & np.isfinite(g)
    g = np.where(known, g, 0.0).astype(np.float32)
    known &= roughness(g, known) / level < SMOOTH_LIGHT
    rel = g / np.maximum(lum_c, EPS)
    gains = known & (rel > BRIGHT) & (rel < np.expm1(MAX_LIGHT))
    none = known & (rel <= BRIGHT / 2)
    if not gains.any():
        return None
    field = fill(np.where(gains, g, 0.0).astype(np.float32), gains | none)
    return np.maximum(up(field[..., None] * k, w, h), 0.0).astype(np.float32)
