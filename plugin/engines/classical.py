"""The classical engine: a noise-adaptive difference matte with local colour unmixing.

Steps (each a plain array operation, no learning):
1. Match the clean plate's exposure and white balance to the plate (:mod:`bgmatte.plugin.exposure`).
2. Measure the difference in units of the sensor noise fitted on the images themselves
   (:mod:`bgmatte.plugin.noise`), taking the minimum over clean-plate shifts of up to
   ``shift_tolerance`` px so slight misregistration does not read as subject.
3. A soft key: ``smoothstep(z, threshold, threshold + softness)``.
4. Soft edges: inside a band around the solid core of the key, the foreground colour is
   extrapolated from the core (normalized convolution, Knutsson & Westin 1993), and alpha
   is the least-squares projection of plate - clean_plate onto foreground - clean_plate
   (the "known colours" step of Chuang et al., CVPR 2001), trusted where the two colours
   differ by many noise sigmas.
5. The optional segmentation pulls alpha where the key is ambiguous.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from bgmatte.kernels import keying
from bgmatte.plugin.bands import CHUNK, in_bands
from bgmatte.plugin.engines import Deferred, EngineResult
from bgmatte.plugin.exposure import matched_clean_plate
from bgmatte.plugin.noise import NoiseModel, fit_noise, samples
from bgmatte.plugin.pixels import snap

_PRE_BLUR = 0.8  # px, Gaussian pre-blur of the detection difference
_CORE_ERODE = 2  # px the solid core is eroded before colours are taken from it
_BAND = 12  # px around the core where alpha may be fractional


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur per channel, with OpenCV (scipy.ndimage's result, computed faster)."""
    src = np.ascontiguousarray(img, dtype=np.float32)
    k = 2 * int(np.ceil(4.0 * sigma)) + 1  # scipy's truncate=4
    out = cv2.GaussianBlur(src, (k, k), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


_COARSE_SIGMA = 6.0  # px: blurs this wide run at half resolution


def halve(img: np.ndarray) -> np.ndarray:
    """Area-halved (rounding up): the input of :func:`_blur_halved` and :func:`run_halved`."""
    h, w = img.shape[:2]
    src = np.ascontiguousarray(img, dtype=np.float32)
    return cv2.resize(src, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def _blur_halved(small: np.ndarray, sigma: float, shape: tuple[int, ...]) -> np.ndarray:
    """A wide Gaussian blur of the image (of ``shape``) whose :func:`halve` is ``small``,
    computed at half resolution: blur by sigma / 2, upsample bilinearly. The result is smooth
    at this scale, so the difference from the full-resolution blur is small, at about an
    eighth of the cost; several blurs of one image share one halving."""
    out = cv2.resize(
        _blur(small, sigma / 2.0), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR
    )
    return out.reshape(shape)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _morph(op: int, mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary erosion / dilation (``cv2.MORPH_ERODE`` / ``MORPH_DILATE``) with the cross
    element, the outside counting as 0: ``scipy.ndimage.binary_erosion`` / ``_dilation``
    exactly, computed faster."""
    out = cv2.morphologyEx(
        mask.astype(np.uint8),
        op,
        _CROSS,
        iterations=iterations,
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.astype(bool)


def _erode(mask: np.ndarray, iterations: int) -> np.ndarray:
    return _morph(cv2.MORPH_ERODE, mask, iterations)


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    return _morph(cv2.MORPH_DILATE, mask, iterations)


def _opening(mask: np.ndarray) -> np.ndarray:
    """A binary opening with the cross: specks one pixel wide are removed."""
    return _dilate(_erode(mask, 1), 1)


def _clean_rows(clean: np.ndarray, ch: int, rows: range, cols: range) -> np.ndarray:
    """Channel ``ch`` of the clean plate over ``rows`` and ``cols`` of the frame, which may
    reach past its edges: edge-replicated there (float32, contiguous)."""
    h, w = clean.shape[:2]
    y0, y1 = max(rows.start, 0), min(rows.stop, h)
    x0, x1 = max(cols.start, 0), min(cols.stop, w)
    b = np.ascontiguousarray(clean[y0:y1, x0:x1, ch], dtype=np.float32)
    grow = (y0 - rows.start, rows.stop - y1), (x0 - cols.start, cols.stop - x1)
    return np.pad(b, grow, mode="edge") if any(itertools.chain(*grow)) else b


def _noise_distance(
    plate: np.ndarray,
    clean: np.ndarray,
    model: NoiseModel,
    r: int,
    box: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """``keying.noise_distance(plate - shifted clean, shifted clean)`` minimised over the clean
    plate's integer shifts of up to ``r`` px (edge-replicated), over ``box`` (rows, columns;
    default the frame), computed channel by channel: the clean plate's noise variance is
    computed once and each shift is a view into the padded planes, and the square root is
    taken once after the minimum (the same float32 terms as the kernel, without recomputing
    the variance for every shift). A chunk of rows at a time, the clean plate's rows r px
    around it copied and padded for it alone: no frame-sized copy (at 4K each would be a
    fresh 33 MB buffer, its pages faulted in every frame)."""
    h, w = plate.shape[:2]
    ys, xs = box or (slice(0, h), slice(0, w))
    hh, ww = ys.stop - ys.start, xs.stop - xs.start
    cols = range(xs.start - r, xs.stop + r)
    best = np.empty((hh, ww), np.float32)

    def rows(band: slice) -> None:
        """The box's rows ``band``: each clean-plate row used is r rows away at most."""
        n = band.stop - band.start
        y0 = ys.start + band.start
        parts = []
        for ch in range(plate.shape[2]):
            b = _clean_rows(clean, ch, range(y0 - r, y0 + n + r), cols)
            var = (
                np.float32(model.read_var[ch])
                + np.float32(model.shot_var[ch]) * np.maximum(b, np.float32(0))
                + np.float32(model.gain_var[ch]) * b * b
            )
            p = np.ascontiguousarray(plate[y0 : y0 + n, xs, ch], dtype=np.float32)
            parts.append((p, b, var))
        out = best[band]
        for i, (dy, dx) in enumerate(itertools.product(range(-r, r + 1), repeat=2)):
            y, x = r - dy, r - dx  # the clean plate moved by (dy, dx)
            total = np.zeros((n, ww), np.float32)
            for p, b, var in parts:
                d = p - b[y : y + n, x : x + ww]
                d *= d
                d /= var[y : y + n, x : x + ww]
                total += d
            if i == 0:
                out[...] = total
            else:
                np.minimum(out, total, out=out)
        np.sqrt(out, out=out)

    # a chunk of rows at a time: a thread's band of a 4K frame would hold its plate rows and
    # variances, 3 channels each, at once
    in_bands(rows, hh, CHUNK)
    return best


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


_STRIP = 128  # rows: the shifted noise distance covers each strip's own columns of the key


def _shift_tolerant_key(
    plate: np.ndarray, clean: np.ndarray, model: NoiseModel, params: Mapping[str, Any]
) -> np.ndarray:
    """The soft key ``smoothstep(z, threshold, threshold + softness)``, cut to its solid part
    (a binary opening of key > 0.5, dilated 2 px), with z the noise distance minimised over
    the clean plate's shifts of up to ``shift_tolerance`` px.

    Shifts only lower z, so they are computed only over the unshifted key's solid part
    grown by 3 px, in strips of :data:`_STRIP` rows, each over its own columns of it: outside
    it the key is 0 either way. (Shifts only shrink the opening, and what it keeps and the
    final key are decided on pixels within 2 px of it; the result is the same to the bit as
    shifting over the whole frame, tested.)
    """
    lo = float(params["threshold"])
    hi = lo + float(params["softness"])
    r = int(params["shift_tolerance"])
    z = _noise_distance(plate, clean, model, 0)
    key = np.empty_like(z)

    def step(band: slice) -> None:  # per pixel: a chunk's temporaries, not a frame's
        key[band] = keying.smoothstep(z[band], lo, hi)

    in_bands(step, z.shape[0], CHUNK)
    solid = _opening(key > 0.5)
    reach = _dilate(solid, 3) if r > 0 else None
    if reach is not None and reach.any():
        for top in range(0, reach.shape[0], _STRIP):
            box = _bounding_box(reach[top : top + _STRIP])
            if box is not None:
                box = (slice(top + box[0].start, top + box[0].stop), box[1])
                z[box] = _noise_distance(plate, clean, model, r, box)
                key[box] = keying.smoothstep(z[box], lo, hi)  # z changed only here
        solid = _opening(key > 0.5)
    key *= _dilate(solid, 2)
    return key


# px: how far the fill's widest blur reaches (σ 12 as σ 6 at half resolution: OpenCV's
# kernel radius 24 there, 48 px here, and a pixel for the halving and one for the upsample)
_FILL_REACH = 64


def _reach_box(at: np.ndarray, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
    """The rows and columns ((y0, y1), (x0, x1)) the fill at the flat pixel indices ``at``
    reads: their bounding box grown by :data:`_FILL_REACH`, on even rows and columns, so the
    halving's 2×2 blocks and the upsample's taps fall where the frame's do; where it meets
    the frame's edge, the frame's border rule applies to both, and elsewhere no read pixel
    is within a blur's reach of it. None (the whole frame) for an odd-sized frame, whose
    halving is not 2×2 blocks, or where the box is most of the frame anyway."""
    h, w = shape[:2]
    if h % 2 or w % 2 or not at.size:
        return None
    rows, cols = np.divmod(at, w)
    y0, y1 = max(int(rows.min()) - _FILL_REACH, 0), min(int(rows.max()) + 1 + _FILL_REACH, h)
    x0, x1 = max(int(cols.min()) - _FILL_REACH, 0), min(int(cols.max()) + 1 + _FILL_REACH, w)
    # Columns from a multiple of 64: OpenCV's vector loops then cover the same pixels as in
    # the frame's rows, and the frame's right edge (a scalar tail) the same in both.
    y0, x0, y1, x1 = y0 - y0 % 2, x0 - x0 % 64, y1 + y1 % 2, x1 + x1 % 2
    if (y1 - y0) * (x1 - x0) > 0.8 * h * w:
        return None
    return (y0, y1), (x0, x1)


def _fill_from(
    colours: np.ndarray, mask: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate ``colours`` (H×W×3) from ``mask`` outwards, read at the flat pixel indices
    ``at``: finest normalized convolution that has support. Returns (filled N×3, support N
    in [0, 1]). The blurs cover the pixels' bounding box and :data:`_FILL_REACH` px around it
    (:func:`_reach_box`), the divisions and selections only the N pixels (the band around
    the core, a small part of the frame)."""
    box = _reach_box(at, mask.shape)
    if box is not None:  # the same values from the box as from the frame
        (y0, y1), (x0, x1) = box
        rows, cols = np.divmod(at, mask.shape[1])
        at = (rows - y0) * (x1 - x0) + (cols - x0)
        colours, mask = colours[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    n = at.size
    filled = np.zeros((n, colours.shape[2]), np.float32)
    support = np.zeros(n, np.float32)
    m = mask.astype(np.float32)
    sources = (m, colours * m[..., None])  # the mask, the colours weighted by it
    halved: list[np.ndarray] = []  # both halved once for the coarse blurs

    def blur(which: int, sigma: float) -> np.ndarray:
        if sigma < _COARSE_SIGMA:
            return _blur(sources[which], sigma)
        if not halved:
            halved.extend(halve(img) for img in sources)
        return _blur_halved(halved[which], sigma, sources[which].shape)

    done = np.zeros(n, bool)
    for sigma in (1.5, 3.0, 6.0, 12.0):
        w = blur(0, sigma).reshape(-1)[at]
        ok = (w > 0.05) & ~done
        if ok.any():
            num = blur(1, sigma).reshape(-1, colours.shape[2])[at[ok]]
            filled[ok] = num / w[ok, None]
            support[ok] = np.minimum(w[ok] / 0.2, 1.0)
            done |= ok
    return filled, support


def fit_on_samples(d: np.ndarray, c: np.ndarray, threshold: float) -> NoiseModel:
    """The noise model from the difference ``d`` and clean plate ``c`` on a fixed budget of
    samples (N×3, :func:`noise.samples`): fitted first on those whose difference is small
    relative to the signal, then on those the first fit calls background (noise distance
    below ``threshold``)."""
    model = fit_noise(d, c, np.all(np.abs(d) <= 0.03 * np.abs(c) + 1e-3, axis=1))
    z = keying.noise_distance(d[None], c[None], model.read_var, model.shot_var, model.gain_var)[0]
    return fit_noise(d, c, z < threshold)


def run(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    params: Mapping[str, Any],
    device: str = "cpu",
) -> EngineResult:
    """Alpha and debug passes for one frame (all inputs H×W×3 / H×W float32, linear). On the
    CPU whatever the ``device``: its cost is in OpenCV's filters."""
    clean = matched_clean_plate(plate, clean_plate, params["match_exposure"])
    pb, cb = _blur(plate, _PRE_BLUR), _blur(clean, _PRE_BLUR)

    # The difference is taken on the noise fit's samples only: no frame-sized buffer.
    at_samples = samples(pb.shape[0] * pb.shape[1])
    c = cb.reshape(-1, 3)[at_samples]
    model = fit_on_samples(pb.reshape(-1, 3)[at_samples] - c, c, float(params["threshold"]))
    key = _shift_tolerant_key(pb, cb, model, params)
    del pb, cb
    t_lo = float(params["threshold"])

    core = _erode(key > 0.99, _CORE_ERODE)
    band = _dilate(core, _BAND) & ~core & (key > 0.0)
    at = np.flatnonzero(band)  # soft edges are decided here, on these pixels only
    alpha = key.copy()
    error = np.zeros_like(alpha)
    if at.size:
        fg_est, support = _fill_from(plate, core, at)
        cl = clean.reshape(-1, 3)[at][None]  # 1×N×3 images for the kernels
        fg, pl = fg_est[None], plate.reshape(-1, 3)[at][None]
        # How far the extrapolated foreground is from the clean plate, in noise sigmas.
        sep = keying.noise_distance(fg - cl, cl, model.read_var, model.shot_var, model.gain_var)
        trust = (keying.smoothstep(sep, 2.0 * t_lo, 4.0 * t_lo) * support)[0]
        projected = keying.project_alpha(pl, cl, fg)[0]
        k = key.reshape(-1)[at]
        alpha.reshape(-1)[at] = trust * projected + (1.0 - trust) * k
        error.reshape(-1)[at] = 1.0 - trust
    prior = None if segmentation is None else np.clip(segmentation, 0.0, 1.0).astype(np.float32)
    weight = float(params["segmentation_weight"])

    def finish(rows: slice) -> None:
        """Per pixel, in place: the key's ambiguity raises the error and lets the segmentation
        pull alpha; alpha is clipped to [0, 1] and snapped."""
        k, a = key[rows], alpha[rows]
        ambiguity = 1.0 - np.abs(2.0 * k - 1.0)
        np.maximum(error[rows], ambiguity, out=error[rows])
        if prior is not None:
            a += (weight * ambiguity) * (prior[rows] - a)
        np.clip(a, 0.0, 1.0, out=a)
        snap(a)

    in_bands(finish, alpha.shape[0], CHUNK)
    if prior is not None:
        seg = Deferred(lambda: prior)
    else:
        seg = Deferred(lambda: _blur(key, 2.0).astype(np.float32))
    return EngineResult(
        alpha=alpha,
        clean_plate=clean,
        difference=Deferred(lambda: np.abs(plate - clean).astype(np.float32)),
        segmentation=seg,
        error=Deferred(lambda: np.clip(error, 0.0, 1.0).astype(np.float32)),
    )


def run_halved(
    plate: np.ndarray, clean_plate: np.ndarray, params: Mapping[str, Any]
) -> EngineResult:
    """:func:`run` on the area-halved frame, against the clean plate matched at full size,
    with alpha and error upsampled bilinearly to the frame's size: the network engine's
    cheaper prior (``prior = classical_half``), a quarter of the pixels. The network's base
    sees the prior at a quarter of the frame or less, and the prior is soft, so the finer
    grid mostly goes unused; what it loses is the finest detail the refiner's crops see."""
    h, w = plate.shape[:2]
    clean = matched_clean_plate(plate, clean_plate, params["match_exposure"])
    small = run(halve(plate), halve(clean), None, {**params, "match_exposure": False})

    def up(img: np.ndarray) -> np.ndarray:
        out = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    alpha = up(small.alpha)
    return EngineResult(
        alpha=alpha,
        clean_plate=clean,
        difference=Deferred(lambda: np.abs(plate - clean).astype(np.float32)),
        segmentation=Deferred(lambda: alpha),
        error=Deferred(lambda: up(small.error.get())),
    )
