"""The subject's cast shadow and the light it adds to the set, from the plate and the clean
plate: the shadow before the matte is keyed, the light after.

Where the subject does not cover the set, ``plate / clean_plate`` is the shadow: a factor
below 1, nearly equal in the three channels (the light that still reaches the set is the same
light, less of it), and smooth (a shadow is a blurred image of the subject, while a subject
seen against the set has a texture of its own). ``plate - clean_plate`` is the added light
(glow, bounce): positive and smooth. Pixels that pass those tests are observations of the
shadow or of the light; pixels where plate and clean plate agree are observations of none;
the rest (the subject) are unknown. Each field is the normalised convolution of its
observations (Knutsson and Westin, CVPR 1993), solved coarse (the shadow at about 320 px on
the long side, the light at about 120), where shadows and glows are smooth anyway and the
noise is averaged down, and upsampled. Only pixels
past a detection threshold are observations of the shadow, and it is shrunk by half of it (a
garrote), so noise and exposure residue give exactly none. The light's observations are likewise
the set's pixels that brighten past a threshold.

The engines then key the plate against ``clean_plate · S``: a cast shadow is background, not
grey subject, and the foreground is solved against the same shadowed clean plate. The light
is measured after keying, on the set the matte left uncovered (:func:`light_left`): before
it, a bright, smooth patch of subject looks like light on the set.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.plugin.pixels import box_down, luma

_LONG_SIDE = 320  # px: the resolution the shadow is solved at (long side)
_EPS = 1e-4
DARK = 0.06  # log units: a shadow darkens by more than this (about 6 %)
NEUTRAL = 0.12  # log units: the channels of a shadow's ratio agree within this
SMOOTH = 0.05  # log units: a shadow's ratio varies this little around it
SMOOTH_LIGHT = 0.015  # a glow's difference varies this little, relative to the set
_LIGHT_LONG_SIDE = 120  # px: glows are found this coarse, where sensor noise is gone
BRIGHT = 0.06  # log units: added light brightens by more than this
MAX_LIGHT = 0.7  # log units: brighter than this (2×) is not a glow on the set but subject
_SIGMA = 2.0  # solving-resolution px: the normalised convolution's reach
_DENSITY_SIGMA = 1.5  # solving-resolution px: the neighbourhood an observation needs
DENSITY = 0.4  # the share of that neighbourhood that must read as shadow too
_REACH = 7  # solving-resolution px: the window a penumbra's darkest allowed value comes from


Box = tuple[int, int, int, int]  # y0, y1, x0, x1: the part of the frame a field may touch


@dataclass(frozen=True)
class Relight:
    """The subject's cast shadow on the set: ``log_shadow`` H×W×3, the log of a factor in
    (0, 1] on the set's light, 0 outside ``box``; or None where nothing darkened the set."""

    log_shadow: np.ndarray | None = None
    box: Box = (0, 0, 0, 0)

    def apply(self, clean_plate: np.ndarray) -> np.ndarray:
        """The clean plate as the set looked with the subject's shadow on it."""
        if self.log_shadow is None:
            return clean_plate
        y0, y1, x0, x1 = self.box
        out = np.array(clean_plate, np.float32)  # a copy: the input may be a cached frame
        out[y0:y1, x0:x1] *= np.exp(self.log_shadow[y0:y1, x0:x1])
        return out

    @property
    def shadow_y(self) -> np.ndarray | None:
        """The shadow as one channel (H×W; None: 1 everywhere): the geometric mean of the
        three factors."""
        if self.log_shadow is None:
            return None
        y0, y1, x0, x1 = self.box
        out = np.ones(self.log_shadow.shape[:2], np.float32)
        out[y0:y1, x0:x1] = np.exp(self.log_shadow[y0:y1, x0:x1].mean(axis=2))
        return out


def _box(field: np.ndarray, factor: int, h: int, w: int) -> Box:
    """The full-resolution box around a low-resolution field's non-zero pixels, with a
    margin for the upsampling's reach."""
    rows, cols = np.flatnonzero(field.any(axis=(1, 2))), np.flatnonzero(field.any(axis=(0, 2)))
    m = 2 * factor
    return (max(0, rows[0] * factor - m), min(h, (rows[-1] + 1) * factor + m),
            max(0, cols[0] * factor - m), min(w, (cols[-1] + 1) * factor + m))  # fmt: skip


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def _fill(obs: np.ndarray, known: np.ndarray, sigma: float = _SIGMA) -> np.ndarray:
    """Normalised convolution: ``obs`` (h×w, or each channel of h×w×k) averaged under a
    Gaussian of ``sigma`` over the ``known`` pixels around it; 0 where none is near. What lies
    beside the known pixels (the subject, say) does not leak in."""
    weight = known.astype(np.float32)
    den = _blur(weight, sigma)
    if obs.ndim == 2:
        num = _blur(obs * weight, sigma)
    else:
        num = np.stack([_blur(obs[..., k] * weight, sigma) for k in range(obs.shape[2])], axis=2)
        den = den[..., None]
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


def _up(x: np.ndarray, w: int, h: int) -> np.ndarray:
    if x.shape[:2] == (h, w):
        return x
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)


def _coarse(
    plate: np.ndarray, clean_plate: np.ndarray, long_side: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float]:
    """The pair block-averaged to about ``long_side`` px on the long side: the factor, the
    plate, the clean plate, its luminance and the floor below which it is too dark to
    measure a ratio on."""
    h, w = plate.shape[:2]
    factor = max(1, round(max(h, w) / long_side))
    p = box_down(plate, factor) if factor > 1 else plate.astype(np.float32)
    c = box_down(clean_plate, factor) if factor > 1 else clean_plate.astype(np.float32)
    lum_c = luma(c)
    return factor, p, c, lum_c, max(float(np.percentile(lum_c, 2)), _EPS)


def _log_ratio(p: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, _EPS)) - np.log(np.maximum(c, _EPS))


def _local_std(x: np.ndarray) -> np.ndarray:
    """How much ``x`` varies around each pixel (its standard deviation under a σ = 1 blur)."""
    local = _blur(x, 1.0)
    return np.sqrt(np.maximum(_blur(x * x, 1.0) - local * local, 0.0))


def _roughness(x: np.ndarray, on: np.ndarray) -> np.ndarray:
    """How much ``x`` varies around each pixel beyond a smooth trend, over the pixels ``on``
    only: the RMS, under a σ = 1 blur, of what a σ = 1 blur leaves out. A glow's slope passes;
    texture and edges do not, nor does the subject beside the set (off ``on``), which would
    otherwise make the glow's brightest pixels, those next to it, read as rough."""
    fine = np.where(on, x - _fill(x, on, 1.0), 0.0).astype(np.float32)
    return np.sqrt(np.maximum(_fill(fine * fine, on, 1.0), 0.0))


def relight(plate: np.ndarray, clean_plate: np.ndarray) -> Relight:
    """The subject's cast shadow on the set (see the module docstring), before keying;
    ``clean_plate`` exposure-matched and aligned to ``plate``."""
    h, w = plate.shape[:2]
    factor, p, c, lum_c, floor = _coarse(plate, clean_plate, _LONG_SIDE)
    ratio = _log_ratio(p, c)  # h×w×3
    mean = ratio.mean(axis=2)
    measurable = (lum_c > floor) & (_local_std(mean) < SMOOTH)
    neutral = np.abs(ratio - mean[..., None]).max(axis=2) < NEUTRAL
    shadowed = measurable & neutral & (mean < -DARK)
    # A shadow is broad; the soft edge of a dark subject (a thin band that also reads as a
    # neutral, darker ratio) is not: an observation needs most of its neighbourhood to agree.
    shadowed &= _blur(shadowed.astype(np.float32), _DENSITY_SIGMA) > DENSITY
    untouched = measurable & neutral & (np.abs(mean) <= DARK)
    if not shadowed.any():
        return Relight()
    obs = np.where(shadowed[..., None], np.minimum(ratio, 0.0), 0.0).astype(np.float32)
    # Shrunk towards 0 by the non-negative garrote (Breiman 1995): weak values (noise, an
    # exposure residue) become exactly 0 and strong ones are left nearly unbiased.
    filled, t = _fill(obs, shadowed | untouched), DARK / 2
    log_s = np.where(filled < -t, filled - t * t / np.minimum(filled, -t), 0.0).astype(np.float32)
    if not log_s.any():
        return Relight()
    full = _up(log_s, w, h)
    box = _box(log_s, factor, h, w)
    if factor > 1:
        _sharpen(plate, clean_plate, log_s, full, box)
    return Relight(full, box)


def _sharpen(
    plate: np.ndarray, clean_plate: np.ndarray, log_s: np.ndarray, full: np.ndarray, box: Box
) -> None:
    """Give the upsampled shadow (log, H×W×3, in place) its edges from the full-resolution
    ratio: in a penumbra (where the low-resolution shadow spans more than the darkening
    threshold around the pixel), pixels whose ratio is neutral across channels take it,
    lightly smoothed and held within that span; inside a shadow and outside one the smooth
    field stands. Only the penumbra's box is read."""
    h, w = plate.shape[:2]
    # The span reaches 3 px (low resolution) towards the shadow's depth, so that a shadow's
    # edge beside the subject, where the field is filled from farther away and comes out too
    # light, can take the depth the plate shows there.
    lo_s = cv2.erode(log_s, np.ones((_REACH, _REACH), np.uint8))
    hi_s = cv2.dilate(log_s, np.ones((3, 3), np.uint8))
    span = (hi_s - lo_s).max(axis=2) > DARK
    if not span.any():
        return
    y0, y1, x0, x1 = box
    crop = (slice(y0, y1), slice(x0, x1))
    band = _up(span.astype(np.float32), w, h)[crop] > 0.0
    lo, hi = _up(lo_s, w, h)[crop][band], _up(hi_s, w, h)[crop][band]
    p = cv2.blur(np.ascontiguousarray(plate[crop]), (3, 3))[band]
    c = cv2.blur(np.ascontiguousarray(clean_plate[crop]), (3, 3))[band]
    ratio = _log_ratio(p, c)
    neutral = np.abs(ratio - ratio.mean(axis=1, keepdims=True)).max(axis=1) < NEUTRAL
    region = full[crop]  # a view: written in place
    picked = region[band]
    picked[neutral] = np.clip(ratio, lo, hi)[neutral]
    region[band] = picked


def light_left(plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """The light the subject adds to the set where the matte left the set uncovered
    (H×W×3 ≥ 0; None where there is none), after keying: light brightens a subject as much
    as the set beside it, so only the uncovered set tells it from a bright subject; what the
    matte took as (glowing) subject stays in the foreground, so nothing is counted twice.
    ``clean_plate`` is the one the matte was keyed against. Found at about 120 px on the long
    side: light is additive, so over a textured set its ratio follows the texture while its
    difference stays smooth; its roughness is the difference's, relative to the set's local
    level."""
    h, w = plate.shape[:2]
    factor, p, c, lum_c, floor = _coarse(plate, clean_plate, _LIGHT_LONG_SIDE)
    bare = (box_down(alpha, factor)[..., 0] if factor > 1 else alpha) == 0.0
    mean = _log_ratio(p, c).mean(axis=2)
    level = np.maximum(_fill(lum_c, bare, 1.0), _EPS)
    rough = _roughness(luma(p) - lum_c, bare) / level
    smooth = bare & (lum_c > floor) & (rough < SMOOTH_LIGHT)
    lit = smooth & (mean > BRIGHT) & (mean < MAX_LIGHT)
    if not lit.any():
        return None
    untouched = smooth & (np.abs(mean) <= DARK)
    added = np.where(lit[..., None], np.maximum(p - c, 0.0), 0.0).astype(np.float32)
    light = np.maximum(_up(_fill(added, lit | untouched), w, h), 0.0)
    return (light * (1.0 - alpha)[..., None]).astype(np.float32)  # as the plate shows it
