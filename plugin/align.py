"""Align the clean plate to the plate: the hand-held camera.

A hand-held clean plate is shot from a camera that moved a little between takes. For a
distant or flat background that motion is a homography (Hartley & Zisserman, "Multiple View
Geometry", ch. 4), so the clean plate is resampled through one before keying:

1. Features (SIFT, Lowe 2004) on an 8-bit log-luminance copy of each image; matches pass
   Lowe's ratio test; a robust homography from them with OpenCV's USAC/MAGSAC++
   (``cv2.findHomography``). The subject moves differently from the background, so its
   matches fall out as outliers.
2. Refined photometrically with the enhanced correlation coefficient (Evangelidis & Psarakis,
   PAMI 2008; ``cv2.findTransformECC``, homography model) on a downscaled log luminance,
   masked to pixels that are surely background after the first warp. ECC is invariant to a
   gain and an offset, so the exposure / white-balance drift (an offset in log) does not
   bias it; the per-channel gain is matched afterwards, on the aligned pixels, by the engine
   (:mod:`bgmatte.plugin.exposure`).
3. The linear clean plate is warped (bicubic, edges replicated) in float32: no clipping, HDR
   values survive.

Conventions: the homography ``H`` maps a plate pixel to the clean-plate pixel that sees the
same background point, ``aligned(x) = clean_plate(H x)``, pixel centres at integers.

Modes: ``off`` = identity; ``homography`` = always warp; ``auto`` = warp unless the estimated
motion is below 0.05 px everywhere, in which case the input comes back unchanged (bit-exact).
Auto first fits a rigid motion (3 parameters, ECC from the identity): it is precise enough to
call a locked-off shot still even on small noisy frames where the 8 parameters of a
homography scatter by a few hundredths of a pixel at the corners, and it needs no features.

When alignment fails (too few matches or inliers, a large residual, an implausible motion)
an :class:`AlignmentWarning` says why and what to do, and the clean plate is used unaligned;
never a silent garbage matte.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import cv2
import numpy as np

from bgmatte.errors import AlignmentWarning
from bgmatte.plugin.pixels import luma

MODES: tuple[str, ...] = ("off", "auto", "homography")

NEGLIGIBLE_PX = 0.05  # auto: below this displacement everywhere, the identity is returned
_FEATURE_SIZE = 1280  # long side of the images the features are found on, at most
_ECC_SIZE = 1024  # long side of the images ECC refines on, at most
_STILL_SIZE = 512  # long side of the images the locked-off test (a rigid ECC fit) runs on
_MIN_MATCHES = 20
_MIN_INLIERS = 15
_MAX_RESIDUAL_PX = 1.5  # median inlier reprojection error, full-resolution px
_RANSAC_PX = 1.5  # inlier threshold at feature scale
_ECC_AGREE_PX = 3.0  # ECC may move the feature estimate this much, else it is distrusted
_MIN_STOPS = 2.0  # the 8-bit feature copy spans at least this many stops


@dataclass(frozen=True)
class AlignReport:
    """What alignment did, for logs and benchmarks."""

    mode: str
    status: str  # "off", "identity" (negligible motion), "aligned" or "failed"
    matches: int = 0  # feature matches that passed the ratio test
    inliers: int = 0  # of those, consistent with the homography
    residual_px: float = 0.0  # median inlier reprojection error, px
    motion_px: float = 0.0  # largest displacement of the homography over the frame, px
    refined: bool = False  # the photometric (ECC) refinement was applied
    problem: str = ""  # why it failed, when it did


@dataclass(frozen=True)
class Alignment:
    """The clean plate as aligned, and how."""

    clean_plate: np.ndarray  # H×W×3 float32 linear, warped (or the input itself)
    homography: np.ndarray  # 3×3 float64, plate pixel -> clean-plate pixel
    valid: np.ndarray  # H×W bool: where the warped clean plate has real pixels
    report: AlignReport


class _Failed(Exception):
    pass


def _luminance(img: np.ndarray) -> np.ndarray:
    return luma(img[..., :3].astype(np.float32))


def _log_lum(lum: np.ndarray, ref: float) -> np.ndarray:
    """log2 of luminance; the floor (30 % of the median) keeps dark noise from dominating."""
    return np.log2(np.maximum(lum, 0.0) + 0.3 * ref).astype(np.float32)


def _log_pair(plate: np.ndarray, clean_plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log luminance of the plate and the clean plate, floored at 30 % of the plate's median
    (a dark or negative frame: the floor alone)."""
    lp, lc = _luminance(plate), _luminance(clean_plate)
    ref = max(float(np.median(lp)), 0.0) + 1e-6
    return _log_lum(lp, ref), _log_lum(lc, ref)


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _to_scaled(scale_x: float, scale_y: float) -> np.ndarray:
    """Full-resolution pixel -> pixel of a resized image (pixel-centre convention)."""
    return np.array(
        [[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, 0.5 * scale_y - 0.5], [0, 0, 1.0]]
    )


def _rescale(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A homography in full-resolution pixels from one in the coordinates ``t`` maps to."""
    out = np.linalg.inv(t) @ h @ t
    return out / out[2, 2]


def _grid(height: int, width: int, n: int = 9) -> np.ndarray:
    xs, ys = np.linspace(0, width - 1, n), np.linspace(0, height - 1, n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], -1)


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    return q[:, :2] / q[:, 2:3]


def _motion(h: np.ndarray, height: int, width: int) -> float:
    """Largest displacement of ``h`` over the frame (a 9×9 grid, corners included), px."""
    pts = _grid(height, width)
    return float(np.linalg.norm(_apply(h, pts) - pts, axis=1).max())


def _distance(a: np.ndarray, b: np.ndarray, height: int, width: int) -> float:
    pts = _grid(height, width)
    return float(np.linalg.norm(_apply(a, pts) - _apply(b, pts), axis=1).max())


def _features_8bit(log_lum: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = (log_lum - lo) / (hi - lo)
    return np.clip(span * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _feature_homography(
    plate_log: np.ndarray, clean_log: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Full-res homography from SIFT matches + USAC; returns (H, plate pts, clean pts of the
    inliers in full-res px, number of matches)."""
    t = _to_scaled(scale, scale)
    # One tone curve for both: the plate's 1st..99th percentile of log luminance, at least
    # _MIN_STOPS wide so that the noise of a flat frame is not stretched into texture.
    lo, hi = (float(v) for v in np.percentile(plate_log, [1.0, 99.0]))
    hi = max(hi, lo + _MIN_STOPS)
    a = _features_8bit(_resize(plate_log, scale), lo, hi)
    b = _features_8bit(_resize(clean_log, scale), lo, hi)
    sift = cv2.SIFT.create(nfeatures=4000, contrastThreshold=0.02)
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < 2 or len(kb) < 2:
        raise _Failed(f"only {min(len(ka), len(kb))} features found (need {_MIN_MATCHES})")
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < _MIN_MATCHES:
        raise _Failed(f"only {len(good)} feature matches (need {_MIN_MATCHES})")
    pa = np.array([ka[m.queryIdx].pt for m in good], np.float32)
    pb = np.array([kb[m.trainIdx].pt for m in good], np.float32)
    h, inl = cv2.findHomography(
        pa, pb, cv2.USAC_MAGSAC, _RANSAC_PX, maxIters=5000, confidence=0.999
    )
    n_in = 0 if inl is None else int(inl.sum())
    if h is None or n_in < _MIN_INLIERS:
        raise _Failed(
            f"only {n_in} of {len(good)} feature matches agree on one camera motion "
            f"(need {_MIN_INLIERS})"
        )
    keep = np.asarray(inl).ravel().astype(bool)
    t_inv = np.linalg.inv(t)
    full_a = _apply(t_inv, pa[keep].astype(np.float64))
    full_b = _apply(t_inv, pb[keep].astype(np.float64))
    return _rescale(np.asarray(h, np.float64), t), full_a, full_b, len(good)


def _warp(img: np.ndarray, h: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    height, width = img.shape[:2]
    return cv2.warpPerspective(
        img,
        h,
        (width, height),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _valid_mask(h: np.ndarray, height: int, width: int) -> np.ndarray:
    ones = np.ones((height, width), np.uint8)
    out = cv2.warpPerspective(
        ones,
        h,
        (width, height),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.astype(bool)


def _background_mask(a: np.ndarray, warped: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """Surely-background pixels of log images ``a`` and ``warped``: the difference (less its
    median, the exposure offset) within 3 robust sigmas, specks removed, eroded away from
    the subject and the frame edge. None when too little is left to fit on."""
    diff = a - warped
    offset = np.median(diff[valid])
    sigma = 1.4826 * float(np.median(np.abs(diff[valid] - offset))) + 1e-3
    mask = (np.abs(diff - offset) < 3.0 * sigma) & valid
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    mask8 = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    mask8 = cv2.erode(mask8, kernel)
    return mask8 if int(mask8.sum()) >= 0.1 * mask8.size else None


def _ecc(
    plate_log: np.ndarray,
    clean_log: np.ndarray,
    h: np.ndarray,
    motion: int,
    full: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """Refine ``h`` by ECC (``motion``: cv2.MOTION_*) on surely-background pixels of a
    downscaled copy; None when ECC cannot help (too little background, no convergence).
    ``full``: the frame's height and width, where the log images are already downscaled
    (``h`` and the result are in the frame's pixels either way)."""
    height, width = full or plate_log.shape
    scale = min(1.0, _ECC_SIZE / max(plate_log.shape))
    a = _resize(plate_log, scale)
    b = _resize(clean_log, scale)
    t = _to_scaled(a.shape[1] / width, a.shape[0] / height)
    hs = t @ h @ np.linalg.inv(t)
    hs = hs / hs[2, 2]
    mask = _background_mask(a, _warp(b, hs, cv2.INTER_LINEAR), _valid_mask(hs, *a.shape))
    if mask is None:
        return None
    rows = 3 if motion == cv2.MOTION_HOMOGRAPHY else 2
    warp = hs[:rows].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    try:
        _, warp = cv2.findTransformECC(a, b, warp, motion, criteria, mask, 3)
    except cv2.error:
        return None
    refined = np.vstack([warp, [0.0, 0.0, 1.0]])[:3].astype(np.float64)
    return _rescale(refined, t)


def warning_message(problem: str, where: str = "") -> str:
    """The one-line warning for a failed alignment: which frame (``where``, e.g. "frame 1002,
    plate shot/p.1002.exr"), what went wrong and what to do."""
    name = f"clean_plate ({where})" if where else "clean_plate"
    return (
        f"{name}: cannot align it to the plate: {problem}; using it unaligned, so "
        "background may key as subject where the camera moved; fix: frame the clean plate "
        "on the same textured background as the plate, or set align to off for a locked-off "
        "camera"
    )


MIN_AUTO_SIZE = 128  # px, short side; auto mode leaves smaller frames unaligned
QUIET_FAILURE_PX = 1.0  # auto mode: below this rigid motion a failed alignment is not reported


def _identity(clean_plate: np.ndarray, report: AlignReport) -> Alignment:
    h, w = clean_plate.shape[:2]
    return Alignment(clean_plate, np.eye(3), np.ones((h, w), bool), report)


def align(
    plate: np.ndarray, clean_plate: np.ndarray, mode: str = "auto", where: str = ""
) -> Alignment:
    """Align ``clean_plate`` to ``plate`` (both H×W×3 float32, linear). See module docstring.

    Warns with :class:`AlignmentWarning` (naming ``where``: the frame) and returns the clean
    plate unaligned when the alignment fails.
    """
    if mode not in MODES:
        raise ValueError(f"align mode {mode!r} is not one of {MODES}")
    if mode == "off":
        return _identity(clean_plate, AlignReport(mode, "off"))
    height, width = plate.shape[:2]
    rigid_motion = None
    if mode == "auto" and min(height, width) < MIN_AUTO_SIZE:
        # too few pixels for features or a trustworthy motion estimate: treat as locked off
        return _identity(clean_plate, AlignReport(mode, "identity", problem="frame too small"))
    if mode == "auto":
        # Locked-off test first: a rigid (rotation + translation) ECC fit from the identity
        # has 3 degrees of freedom, so it measures a negligible motion far more precisely
        # than a homography would, and needs no features (small or plain frames pass too).
        # It runs at :data:`_STILL_SIZE`, so the frames are downscaled before anything else:
        # a locked-off frame costs two resizes and one small fit, whatever its size. Three
        # parameters fitted on 512 px still tell 0.05 px of shake from none (as on 1024 px,
        # the ECC size, where the fit took 3x as long: HD 45.6 -> 14.1 ms for the stage).
        scale = min(1.0, _STILL_SIZE / max(height, width))
        small_p, small_c = _resize(plate[..., :3], scale), _resize(clean_plate[..., :3], scale)
        rigid = _ecc(*_log_pair(small_p, small_c), np.eye(3), cv2.MOTION_EUCLIDEAN, (height, width))
        rigid_motion = None if rigid is None else _motion(rigid, height, width)
        if rigid_motion is not None and rigid_motion < NEGLIGIBLE_PX:
            report = AlignReport(mode, "identity", motion_px=rigid_motion)
            return _identity(clean_plate, report)
    plate_log, clean_log = _log_pair(plate, clean_plate)
    scale = min(1.0, _FEATURE_SIZE / max(height, width))
    try:
        h, pts_p, pts_c, matches = _feature_homography(plate_log, clean_log, scale)
        if not np.all(np.isfinite(h)):
            raise _Failed("the feature matches give a degenerate motion")
        motion = _motion(h, height, width)
        det = float(np.linalg.det(h[:2, :2]))
        if motion > 0.25 * np.hypot(height, width) or not 0.7 < det < 1.4:
            raise _Failed(
                f"the feature matches give an implausible motion ({motion:.0f} px, scale {det:.2f})"
            )
        refined = _ecc(plate_log, clean_log, h, cv2.MOTION_HOMOGRAPHY)
        used_ecc = refined is not None and _distance(refined, h, height, width) < _ECC_AGREE_PX
        if used_ecc:
            assert refined is not None
            h = refined
        residual = float(np.median(np.linalg.norm(_apply(h, pts_p) - pts_c, axis=1)))
        if residual > _MAX_RESIDUAL_PX:
            raise _Failed(
                f"median residual {residual:.2f} px after alignment (limit {_MAX_RESIDUAL_PX} px)"
            )
    except _Failed as failed:
        # In auto mode a failure only matters when the camera clearly moved: a sub-pixel
        # rigid estimate on a frame too small or plain for features is a locked-off shot,
        # and its clean plate is as aligned as a locked-off one (the shadow and light passes
        # are solved against it).
        if rigid_motion is not None and rigid_motion < QUIET_FAILURE_PX:
            report = AlignReport(mode, "identity", motion_px=rigid_motion, problem=str(failed))
            return _identity(clean_plate, report)
        warnings.warn(warning_message(str(failed), where), AlignmentWarning, stacklevel=2)
        return _identity(clean_plate, AlignReport(mode, "failed", problem=str(failed)))
    motion = _motion(h, height, width)
    report = AlignReport(mode, "aligned", matches, len(pts_p), residual, motion, used_ecc)
    if mode == "auto" and motion < NEGLIGIBLE_PX:
        return _identity(clean_plate, replace(report, status="identity"))
    warped = _warp(np.ascontiguousarray(clean_plate[..., :3], np.float32), h)
    return Alignment(warped, h, _valid_mask(h, height, width), report)
