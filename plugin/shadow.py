"""The subject's cast shadow on the set, from the plate and the clean plate, before the
matte is keyed.

Where the subject does not cover the set, ``plate / clean_plate`` is the shadow: a factor
below 1, nearly equal in the three channels (the light that still reaches the set is the same
light, less of it), and smooth (a shadow is a blurred image of the subject, while a subject
seen against the set has a texture of its own). Pixels that pass those tests are observations
of the shadow where the shadow is broad (most of their neighbourhood passes too, or they are
connected to pixels whose neighbourhood does); pixels where plate and clean plate agree are
observations of none; the rest (the subject) are unknown. The field is the normalised
convolution of its observations (:mod:`.fields`), solved at about 320 px on the long side,
where shadows are smooth anyway and the noise is averaged down, and upsampled, its penumbra
sharpened from the full-resolution ratio. Only pixels past a detection threshold are
observations of the shadow, and it is shrunk by half of it (a garrote), so noise and exposure
residue give exactly none.

The engines then key the plate against ``clean_plate · S``: a cast shadow is background, not
grey subject, and the foreground is solved against the same shadowed clean plate. Where the
subject also adds light to the set (:mod:`.light`), the shadow is solved again on the plate
less that light, under which it is no longer neutral.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bgmatte.plugin import fields
from bgmatte.plugin.fields import Box, coarse, fill, local_std, log_ratio, up

_LONG_SIDE = 320  # px: the resolution the shadow is solved at (long side)
DARK = 0.06  # log units: a shadow darkens by more than this (about 6 %)
NEUTRAL = 0.12  # log units: the channels of a shadow's ratio agree within this
SMOOTH = 0.05  # log units: a shadow's ratio varies this little around it
_REACH = 7  # solving-resolution px: the window a penumbra's darkest allowed value comes from


@dataclass(frozen=True)
class Relight:
    """The subject's cast shadow on the set: ``log_shadow``, the log of a factor in (0, 1] on
    the set's light (×3 channels), over ``box``, the part of the frame (``size``: height,
    width) the shadow touches, 0 outside it; or None where nothing darkened the set. Kept as
    the box alone: it is held with each keyed frame the node caches (a temporal window holds
    several), where a frame-sized copy of mostly zeros would cost a whole frame of memory
    (the box is a third of the speed benchmark's HD frame: 8 MB held instead of 25)."""

    log_shadow: np.ndarray | None = None
    box: Box = (0, 0, 0, 0)
    size: tuple[int, int] = (0, 0)

    def apply(self, clean_plate: np.ndarray) -> np.ndarray:
        """The clean plate as the set looked with the subject's shadow on it."""
        if self.log_shadow is None:
            return clean_plate
        y0, y1, x0, x1 = self.box
        out = np.array(clean_plate, np.float32)  # a copy: the input may be a cached frame
        out[y0:y1, x0:x1] *= np.exp(self.log_shadow)
        return out

    @property
    def shadow_y(self) -> np.ndarray | None:
        """The shadow as one channel (H×W; None: 1 everywhere): the geometric mean of the
        three factors."""
        if self.log_shadow is None:
            return None
        y0, y1, x0, x1 = self.box
        out = np.ones(self.size, np.float32)
        out[y0:y1, x0:x1] = np.exp(self.log_shadow.mean(axis=2))
        return out


def _connected_to(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` in an 8-connected component that holds a pixel of ``seeds``."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seeds])] = True
    keep[0] = False  # the background of the labelling: pixels outside ``mask``
    return keep[labels]


def relight(plate: np.ndarray, clean_plate: np.ndarray) -> Relight:
    """The subject's cast shadow on the set (see the module docstring), before keying;
    ``clean_plate`` exposure-matched and aligned to ``plate``."""
    h, w = plate.shape[:2]
    factor, p, c, lum_c, floor = coarse(plate, clean_plate, _LONG_SIDE)
    ratio = log_ratio(p, c)  # h×w×3
    mean = ratio.mean(axis=2)
    neutral = np.abs(ratio - mean[..., None]).max(axis=2) < NEUTRAL
    # Smooth among the neutral pixels around: a subject beside the set (not neutral) does not
    # make the shadow next to it, its darkest part, read as rough.
    measurable = (lum_c > floor) & (local_std(mean, neutral) < SMOOTH)
    shadowed = measurable & neutral & (mean < -DARK)
    # A shadow is broad; the soft edge of a dark subject (a thin band that also reads as a
    # neutral, darker ratio) is not: an observation needs most of its neighbourhood to agree,
    # or to be connected to one that does (hysteresis, as Canny's edges): a strip of shadow
    # between the subject and the rest of its shadow is too thin to be dense by itself.
    shadowed = _connected_to(shadowed, fields.broad(shadowed))
    untouched = measurable & neutral & (np.abs(mean) <= DARK)
    if not shadowed.any():
        return Relight()
    obs = np.where(shadowed[..., None], np.minimum(ratio, 0.0), 0.0).astype(np.float32)
    # Shrunk towards 0 by the non-negative garrote (Breiman 1995): weak values (noise, an
    # exposure residue) become exactly 0 and strong ones are left nearly unbiased.
    filled, t = fill(obs, shadowed | untouched), DARK / 2
    log_s = np.where(filled < -t, filled - t * t / np.minimum(filled, -t), 0.0).astype(np.float32)
    if not log_s.any():
        return Relight()
    full = up(log_s, w, h)
    box = fields.box(log_s, factor, h, w)
    if factor > 1:
        _sharpen(plate, clean_plate, log_s, full, box)
    y0, y1, x0, x1 = box
    return Relight(full[y0:y1, x0:x1].copy(), box, (h, w))


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
    band = up(span.astype(np.float32), w, h)[crop] > 0.0
    lo, hi = up(lo_s, w, h)[crop][band], up(hi_s, w, h)[crop][band]
    p = cv2.blur(np.ascontiguousarray(plate[crop]), (3, 3))[band]
    c = cv2.blur(np.ascontiguousarray(clean_plate[crop]), (3, 3))[band]
    ratio = log_ratio(p, c)
    r, g, b = ratio[:, 0], ratio[:, 1], ratio[:, 2]
    mean = (r + g + b) / 3.0  # per channel: numpy's axis reductions are slow on 3 values
    spread = np.maximum(np.maximum(np.abs(r - mean), np.abs(g - mean)), np.abs(b - mean))
    take = spread < NEUTRAL
    ys, xs = np.nonzero(band)
    region = full[crop]  # a view: written in place
    region[ys[take], xs[take]] = np.clip(ratio[take], lo[take], hi[take])
