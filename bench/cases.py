"""``bgmatte bench cases``: builds a validation set of still cases in the shared case format
(plate.exr, clean_plate.exr, alpha_gt.exr, fg_gt.exr, meta.json; ``shared/data/README.md``)
from the alphamatting.com mattes and the HDR background photographs of the developer data,
following the dev cases' recipe as their meta.json files record it:

- the subject: the 8-bit sRGB photograph linearised with the sRGB EOTF and resized (with its
  ground-truth alpha) to a long side of 640 px; its colour F by
  ``pymatting.estimate_foreground_ml`` on the linear image and the true alpha;
- the background B: a crop of an HDR photograph (the output's aspect), resampled to the
  output size and exposure-scaled to a target luminance ratio against the subject;
- the plate: ``a*F + (1-a)*B*S`` with Poisson-Gaussian sensor noise, where S is a soft cast
  shadow of the subject on the background (1 where the case has none). The shadow is in the
  plate only and is not foreground: alpha_gt stays the matte;
- the clean plate: B captured again, with its own noise, an exposure change, a white-balance
  shift and a misalignment (a shift and a small rotation about the image centre), rendered
  from the photograph directly (one resampling, like the plate's).

Cases cycle through four scenarios so that each of the three mattes gets each of them once in
12 cases: a cast shadow on a camouflaged background, a 1-3 px misalignment with a rotation, a
cast shadow, and a camouflaged background. Camouflage: the crop (of 64 drawn from the photo)
whose colours lie nearest the subject's near its outline, exposed to match the subject's
luminance there, then tinted towards the subject's colours in a soft region around it. Every
other case still has a sub-pixel misalignment.

Everything a case draws comes from its seed (``--seed`` + case index), so a case is the same
bytes for the same seed. Making the data, writing it and printing the summary are separate
functions."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bgmatte.bench.command import Benchmark
from bgmatte.bench.table import print_header, print_row

MATTES = ("GT02", "GT15", "GT27")
"""The held-out dev mattes (shared/data/mattes): the validation set is built from these."""

SCENARIOS = ("shadow_camouflage", "misalign", "shadow", "camouflage")
"""Case i gets SCENARIOS[i % 4], matte i % len(mattes) and photo i % len(photos)."""

_LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec.709
_CANDIDATE_CROPS = 64  # crops drawn for a camouflaged case; the nearest in colour is used
_RING_PX_AT_640 = 15.0  # "near the subject": this far outside its outline (alpha > 0.5)


@dataclass(frozen=True)
class Plan:
    """What one case is to be, before any pixel is made."""

    index: int
    name: str
    seed: int
    matte: str  # "GT02"
    photo: Path  # an HDR background photograph
    shadow: bool
    camouflage: bool
    large_misalign: bool  # 1-3 px and 0.1-0.4 degrees; else sub-pixel, under 0.05 degrees


@dataclass(frozen=True)
class Subject:
    """One matte at the output size: linear photograph, true alpha, estimated colour."""

    matte: str
    image: np.ndarray  # H×W×3 scene-linear (the sRGB photograph through the sRGB EOTF)
    alpha: np.ndarray  # H×W
    foreground: np.ndarray  # H×W×3, pymatting.estimate_foreground_ml
    source: str


@dataclass(frozen=True)
class MadeCase:
    """One case's images (float32) and its meta.json; ``background`` (B as the plate sees it,
    noise-free) and ``shadow`` (the plate's multiplicative shadow, 1 = none) are not written
    but kept for checks."""

    name: str
    plate: np.ndarray
    clean_plate: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    shadow: np.ndarray
    meta: dict[str, Any]


# ---------------------------------------------------------------------------- the plan


def plan_cases(mattes: Sequence[str], photos: Sequence[Path], count: int, seed: int) -> list[Plan]:
    """``count`` cases: case i has seed ``seed + i``, matte ``mattes[i % len]``, photo
    ``photos[i % len]`` and scenario ``SCENARIOS[i % 4]`` (with 3 mattes, 5 photos and 12
    cases: every matte in every scenario once, and no matte twice on one photo)."""
    plans = []
    for i in range(count):
        matte = mattes[i % len(mattes)]
        photo = photos[i % len(photos)]
        scenario = SCENARIOS[i % len(SCENARIOS)]
        plans.append(
            Plan(
                index=i,
                name=f"val{i + 1:02d}_{matte.lower()}_{photo.stem.lower()}_{scenario}",
                seed=seed + i,
                matte=matte,
                photo=photo,
                shadow="shadow" in scenario,
                camouflage="camouflage" in scenario,
                large_misalign=scenario == "misalign",
            )
        )
    return plans


# ---------------------------------------------------------------------------- the inputs


def _read(path: Path) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.FLOAT)
    if buf.has_error or pixels is None or pixels.size == 0:
        raise OSError(f"cannot read {path}: {buf.geterror()}")
    return np.asarray(pixels, np.float32)


def srgb_eotf(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] to linear light (IEC 61966-2-1)."""
    e = np.clip(encoded, 0.0, 1.0)
    return np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(image, size, interpolation=interp), np.float32)


def load_subject(data: Path, matte: str, long_side: int) -> Subject:
    """``mattes/input/<matte>.png`` and ``mattes/gt/<matte>.png`` at the output size."""
    from pymatting import estimate_foreground_ml

    rgb = _read(data / "mattes" / "input" / f"{matte}.png")[..., :3]
    alpha = _read(data / "mattes" / "gt" / f"{matte}.png")[..., 0]
    image = np.maximum(_resize_long_side(srgb_eotf(rgb), long_side), 0.0)
    alpha = np.clip(_resize_long_side(alpha, long_side), 0.0, 1.0)
    fg = estimate_foreground_ml(image.astype(np.float64), alpha.astype(np.float64))
    return Subject(
        matte=matte,
        image=image,
        alpha=alpha.astype(np.float32),
        foreground=np.clip(np.asarray(fg, np.float32), 0.0, None),
        source=f"alphamatting.com low-res training {matte} "
        f"(mattes/input/{matte}.png, mattes/gt/{matte}.png)",
    )


def read_photo(path: Path) -> np.ndarray:
    """An HDR background photograph, RGB float32, values as stored."""
    return _read(path)[..., :3]


# ---------------------------------------------------------------------------- geometry


def _crop_matrix(crop: tuple[int, int, int, int], width: int) -> np.ndarray:
    """3×3: output pixel (u, v) -> photograph pixel, for ``crop`` (x, y, w, h) resampled to
    ``width`` px wide (pixel centres line up)."""
    x0, y0, cw, _ = crop
    s = cw / width
    return np.array([[s, 0.0, x0 + 0.5 * s - 0.5], [0.0, s, y0 + 0.5 * s - 0.5], [0, 0, 1.0]])


def _misalign_matrix(dx: float, dy: float, rot_deg: float, h: int, w: int) -> np.ndarray:
    """3×3: clean-plate pixel p -> the plate pixel showing the same scene point, for a clean
    plate whose content is moved by (dx, dy) and rotated by ``rot_deg`` (clockwise on screen,
    y down) about the image centre."""
    t = math.radians(rot_deg)
    inv = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])  # R^-1
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    m = np.eye(3)
    m[:2, :2] = inv
    m[:2, 2] = c - inv @ (c + np.array([dx, dy]))
    return m


def _warp(image: np.ndarray, matrix: np.ndarray, h: int, w: int, cubic: bool = True) -> np.ndarray:
    """``image`` sampled at ``matrix`` @ (u, v, 1) for every output pixel."""
    import cv2

    flags = (cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(
        np.ascontiguousarray(image, np.float32),
        np.ascontiguousarray(matrix[:2], np.float64),
        (w, h),
        flags=flags,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    return np.asarray(out, np.float32)


def _prefiltered(photo: np.ndarray, scale: float) -> np.ndarray:
    """The photograph blurred against aliasing where the crop is shrunk (``scale`` > 1
    photo px per output px)."""
    import cv2

    if scale <= 1.0:
        return photo
    sigma = 0.5 * math.sqrt(scale * scale - 1.0)
    return np.asarray(cv2.GaussianBlur(photo, (0, 0), sigma), np.float32)


def render_background(
    photo: np.ndarray, crop: tuple[int, int, int, int], h: int, w: int, misalign: np.ndarray
) -> np.ndarray:
    """The crop resampled to h×w, seen through ``misalign`` (3×3; identity for the plate),
    non-negative (cubic resampling rings at HDR highlights)."""
    src = _prefiltered(photo, crop[2] / w)
    return np.maximum(_warp(src, _crop_matrix(crop, w) @ misalign, h, w), 0.0)


# ---------------------------------------------------------------------------- colour near it


@dataclass(frozen=True)
class _Near:
    """The ring just outside the subject's outline and, per ring pixel, the colour of the
    nearest subject pixel (alpha > 0.5)."""

    ring: np.ndarray  # H×W bool
    nearest_fg: np.ndarray  # N×3, F at the nearest subject pixel of each ring pixel


def _near_subject(subject: Subject) -> _Near:
    from scipy import ndimage

    inside = subject.alpha > 0.5
    radius = max(2.0, _RING_PX_AT_640 * max(subject.alpha.shape) / 640.0)
    dist, (iy, ix) = ndimage.distance_transform_edt(~inside, return_indices=True)
    ring = (dist > 0) & (dist <= radius)
    return _Near(ring=ring, nearest_fg=subject.foreground[iy[ring], ix[ring]])


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb @ _LUMA.astype(rgb.dtype))


def colour_distance(near: _Near, background: np.ndarray) -> float:
    """``fg_bg_cbrt_colour_distance_near_subject``: the mean over the ring (15 px at 640
    outside the subject's outline) of the Euclidean distance between the cube roots of the
    background's RGB and of the nearest subject pixel's F. Lower: better camouflage."""
    b = np.cbrt(np.maximum(background[near.ring], 0.0))
    f = np.cbrt(np.maximum(near.nearest_fg, 0.0))
    return float(np.linalg.norm(f - b, axis=1).mean())


# ---------------------------------------------------------------------------- one case


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw_perturbation(rng: np.random.Generator, plan: Plan, long_side: int) -> dict[str, Any]:
    """Every random parameter of a case but its crop, in one fixed order of draws."""
    stops = float(rng.uniform(-0.3, 0.3))
    wb = [1.0 + float(rng.uniform(-0.035, 0.035)), 1.0, 1.0 + float(rng.uniform(-0.035, 0.035))]
    noise = {
        "read_sigma": _log_uniform(rng, 8e-4, 2.5e-3),
        "shot_gain": _log_uniform(rng, 1.5e-4, 7e-4),
    }
    direction = float(rng.uniform(0.0, 2.0 * math.pi))
    if plan.large_misalign:
        shift = float(rng.uniform(1.0, 3.0))
        rot = float(rng.uniform(0.1, 0.4)) * (1.0 if rng.uniform() < 0.5 else -1.0)
    else:
        shift = float(rng.uniform(0.1, 0.8))
        rot = float(rng.uniform(-0.05, 0.05))
    out: dict[str, Any] = {
        "exposure_stops": round(stops, 4),
        "white_balance_gains_rgb": [round(g, 4) for g in wb],
        "noise": {
            "read_sigma": round(noise["read_sigma"], 6),
            "shot_gain": round(noise["shot_gain"], 6),
            "note": "Poisson-Gaussian: shot_gain * Poisson(max(x, 0) / shot_gain) "
            "+ N(0, read_sigma^2); same camera model, independent realisations on plate "
            "and clean plate",
        },
        "misalign": {
            "dx_px": round(shift * math.cos(direction), 3),
            "dy_px": round(shift * math.sin(direction), 3),
            "rot_deg": round(rot, 4),
            "convention": "the clean plate's content is moved by (dx, dy) px and rotated by "
            "rot_deg (clockwise on screen, y down) about the image centre",
        },
    }
    # the shadow and the luminance targets are drawn for every case (fixed order of draws)
    angle = float(rng.uniform(math.radians(20), math.radians(160)))  # downwards, y down
    reach = float(rng.uniform(0.04, 0.10)) * long_side
    sigma = float(rng.uniform(0.015, 0.035)) * long_side
    strength = float(rng.uniform(0.3, 0.55))
    sky = float(rng.uniform(0.0, 0.08))
    if plan.shadow:
        out["shadow_in_plate_only"] = {
            "offset_px": [round(reach * math.cos(angle), 1), round(reach * math.sin(angle), 1)],
            "blur_sigma_px": round(sigma, 1),
            "strength": round(strength, 3),
            "strength_rgb": [
                round(strength * (1 + sky), 3),
                round(strength, 3),
                round(strength * (1 - sky), 3),
            ],
            "note": "S = 1 - strength_rgb * gaussian_blur(alpha shifted by offset_px, "
            "blur_sigma_px); plate background = B * S (skylight: the shadow is a little "
            "bluer); alpha_gt is not changed",
        }
    out["_lum_ratio"] = _log_uniform(rng, 0.5, 1.5)
    out["_near_lum_ratio"] = float(rng.uniform(0.85, 1.15))
    out["_tint_strength"] = float(rng.uniform(0.55, 0.85))
    out["_tint_radius_scale"] = float(rng.uniform(1.05, 1.3))
    return out


def _draw_crop(
    rng: np.random.Generator, photo_hw: tuple[int, int], h: int, w: int
) -> tuple[int, int, int, int]:
    """A crop of the output's aspect, 40-100 % of the largest that fits."""
    ph, pw = photo_hw
    largest = min(float(pw), ph * w / h)
    cw = max(8, round(largest * rng.uniform(0.4, 1.0)))
    ch = min(ph, max(2, round(cw * h / w)))
    x = int(rng.integers(0, pw - cw + 1))
    y = int(rng.integers(0, ph - ch + 1))
    return x, y, cw, ch


def _median_lum(rgb: np.ndarray) -> float:
    return max(float(np.median(_luma(rgb))), 1e-6)


def choose_background(
    plan: Plan, subject: Subject, near: _Near, photo: np.ndarray, pert: dict[str, Any]
) -> tuple[tuple[int, int, int, int], float, np.ndarray, dict[str, Any]]:
    """The crop, its exposure gain, the plate's background B (noise-free) and the record.

    Plain cases: one crop drawn, gain so that median luminance of B over the median of the
    subject (alpha > 0.5) is the drawn ratio (0.5-1.5). Camouflaged: of 64 crops, the one
    nearest the subject's colours near its outline, at the gain that puts B's median
    luminance on the ring at 0.85-1.15 times the subject's there."""
    h, w = subject.alpha.shape
    rng = np.random.default_rng([plan.seed, 3])
    identity = np.eye(3)
    best: tuple[float, tuple[int, int, int, int], float, np.ndarray] | None = None
    for _ in range(_CANDIDATE_CROPS if plan.camouflage else 1):
        crop = _draw_crop(rng, photo.shape[:2], h, w)
        raw = render_background(photo, crop, h, w, identity)
        if plan.camouflage:
            target = pert["_near_lum_ratio"]
            gain = target * _median_lum(near.nearest_fg) / _median_lum(raw[near.ring])
        else:
            target = pert["_lum_ratio"]
            gain = target * _median_lum(subject.foreground[subject.alpha > 0.5]) / _median_lum(raw)
        dist = colour_distance(near, raw * gain)
        if best is None or dist < best[0]:
            best = (dist, crop, gain, raw * gain)
    assert best is not None
    dist, crop, gain, background = best
    record: dict[str, Any] = {
        "target_median_lum_ratio_bg_over_fg": (
            None if plan.camouflage else round(pert["_lum_ratio"], 3)
        ),
        "crop_xywh": list(crop),
        "exposure_gain": round(float(gain), 5),
    }
    if plan.camouflage:
        record["camouflage"] = {
            "crop_search": f"{_CANDIDATE_CROPS} crops drawn, the lowest colour distance kept",
            "target_median_lum_ratio_bg_over_fg_near_subject": round(pert["_near_lum_ratio"], 3),
            "fg_bg_cbrt_colour_distance_before_tint": round(dist, 4),
        }
    return crop, float(gain), background.astype(np.float32), record


def tint_mask(subject: Subject, radius_scale: float) -> np.ndarray:
    """A soft ellipse over the subject's extent (alpha > 0.5 bounding box, scaled by
    ``radius_scale``), centred on its alpha centroid: the region of the backdrop that is
    tinted. Its shape does not follow the outline, so it gives the outline away nowhere."""
    from scipy import ndimage

    h, w = subject.alpha.shape
    ys, xs = np.nonzero(subject.alpha > 0.5)
    if len(xs) == 0:
        return np.zeros((h, w), np.float32)
    cy, cx = ndimage.center_of_mass(subject.alpha)
    ry = max(2.0, (ys.max() - ys.min()) / 2.0 * radius_scale + 0.05 * max(h, w))
    rx = max(2.0, (xs.max() - xs.min()) / 2.0 * radius_scale + 0.05 * max(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0).astype(np.float32)
    return np.asarray(ndimage.gaussian_filter(inside, 0.06 * max(h, w)), np.float32)


def _tint_gains(near: _Near, background: np.ndarray) -> np.ndarray:
    """Per-channel gains that take B's mean colour on the ring to the subject's there, at
    B's luminance (a change of hue and saturation, not of brightness), within [1/3, 3]."""
    mean_b = np.maximum(background[near.ring].mean(axis=0), 1e-6)
    mean_f = np.maximum(near.nearest_fg.mean(axis=0), 1e-6)
    gains = mean_f / mean_b
    gains *= float(_LUMA @ mean_b) / float(_LUMA @ (gains * mean_b))
    return np.clip(gains, 1.0 / 3.0, 3.0)


def shadow_map(alpha: np.ndarray, shadow: dict[str, Any]) -> np.ndarray:
    """S (H×W×3): 1 - strength_rgb * blur(alpha moved by offset_px). The subject is taken to
    go on past the frame where its matte touches the edge (edge-repeated)."""
    import cv2

    h, w = alpha.shape
    ox, oy = shadow["offset_px"]
    shifted = _warp(alpha, np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1.0]]), h, w, cubic=False)
    cast = cv2.GaussianBlur(
        np.clip(shifted, 0.0, 1.0), (0, 0), shadow["blur_sigma_px"], borderType=cv2.BORDER_REPLICATE
    )
    strength = np.asarray(shadow["strength_rgb"], np.float32)
    return np.asarray(1.0 - cast[..., None] * strength, np.float32)


def sensor_noise(
    image: np.ndarray, read_sigma: float, shot_gain: float, rng: np.random.Generator
) -> np.ndarray:
    """Poisson-Gaussian noise: shot noise with ``shot_gain`` (linear units per electron) plus
    read noise of ``read_sigma``."""
    x = np.maximum(image.astype(np.float64), 0.0)
    shot = rng.poisson(x / shot_gain) * shot_gain
    read = rng.normal(0.0, read_sigma, image.shape)
    return np.asarray(shot + read, np.float32)


def make_case(plan: Plan, subject: Subject, photo: np.ndarray, data_name: str) -> MadeCase:
    """One case from its plan, its subject and its photograph (see module docstring)."""
    h, w = subject.alpha.shape
    long_side = max(h, w)
    pert = draw_perturbation(np.random.default_rng([plan.seed, 0]), plan, long_side)
    near = _near_subject(subject)
    crop, gain, background, bg_record = choose_background(plan, subject, near, photo, pert)

    mis = pert["misalign"]
    misalign = _misalign_matrix(mis["dx_px"], mis["dy_px"], mis["rot_deg"], h, w)
    clean_bg = render_background(photo, crop, h, w, misalign) * gain
    if plan.camouflage:
        mask = tint_mask(subject, pert["_tint_radius_scale"])
        gains = _tint_gains(near, background)
        strength = pert["_tint_strength"]
        background = background * gains ** (strength * mask[..., None])
        clean_mask = _warp(mask, misalign, h, w, cubic=False)
        clean_bg = clean_bg * gains ** (strength * clean_mask[..., None])
        bg_record["camouflage"]["local_tint"] = {
            "gains_rgb": [round(float(g), 4) for g in gains],
            "strength": round(strength, 3),
            "region": "soft ellipse over the subject's alpha>0.5 bounding box x "
            f"{pert['_tint_radius_scale']:.3f} + 5 % of the long side, centred on its alpha "
            "centroid, Gaussian edge of 6 % of the long side; B *= gains ** (strength * mask) "
            "(plate and clean plate alike)",
        }
    background = background.astype(np.float32)
    bg_record["frac_bg_over_1"] = round(float((background.max(axis=2) > 1.0).mean()), 5)
    bg_record["fg_bg_cbrt_colour_distance_near_subject"] = round(
        colour_distance(near, background), 4
    )

    shadow = (
        shadow_map(subject.alpha, pert["shadow_in_plate_only"])
        if plan.shadow
        else np.ones_like(background)
    )
    a = subject.alpha[..., None]
    noise = pert["noise"]
    plate = sensor_noise(
        a * subject.foreground + (1.0 - a) * background * shadow,
        noise["read_sigma"],
        noise["shot_gain"],
        np.random.default_rng([plan.seed, 1]),
    )
    capture = 2.0 ** pert["exposure_stops"] * np.asarray(pert["white_balance_gains_rgb"])
    clean = sensor_noise(
        clean_bg * capture.astype(np.float32),
        noise["read_sigma"],
        noise["shot_gain"],
        np.random.default_rng([plan.seed, 2]),
    )
    fg = np.where(a > 1e-3, subject.foreground, 0.0).astype(np.float32)

    meta: dict[str, Any] = {
        "name": plan.name,
        "seed": plan.seed,
        "scenario": SCENARIOS[plan.index % len(SCENARIOS)],
        "hard_similar_colours": plan.camouflage,
        "foreground": {
            "source": subject.source,
            "matte": subject.matte,
            "linearisation": "sRGB EOTF",
            "resized_long_side": long_side,
            "fg_estimation": "pymatting.estimate_foreground_ml(linear image, gt alpha)",
        },
        "background": {"source": f"{data_name}/backgrounds/{plan.photo.name}", **bg_record},
        "kind": "still",
        "colour_space": "lin_rec709",
        "size_wh": [w, h],
        "perturbation": {k: v for k, v in pert.items() if not k.startswith("_")},
        "files": {
            "plate": "plate.exr",
            "clean_plate": "clean_plate.exr",
            "alpha_gt": "alpha_gt.exr (channel A, float32)",
            "fg_gt": "fg_gt.exr (unpremultiplied, 0 where alpha_gt <= 1e-3)",
        },
        "generator": "bgmatte bench cases",
    }
    return MadeCase(
        name=plan.name,
        plate=plate,
        clean_plate=clean,
        alpha=subject.alpha,
        foreground=fg,
        background=background,
        shadow=shadow,
        meta=meta,
    )


# ---------------------------------------------------------------------------- writing


def write_case(root: Path, case: MadeCase) -> Path:
    """The case folder ``root/<name>`` in the shared case format."""
    from bgmatte.host_bridge.imageio import write_exr

    folder = root / case.name
    folder.mkdir(parents=True, exist_ok=True)
    space = "lin_rec709"
    write_exr(str(folder / "plate.exr"), [("", case.plate)], colorspace=space)
    write_exr(str(folder / "clean_plate.exr"), [("", case.clean_plate)], colorspace=space)
    write_exr(str(folder / "alpha_gt.exr"), [("", case.alpha)], half=False, colorspace=space)
    write_exr(str(folder / "fg_gt.exr"), [("", case.foreground)], colorspace=space)
    (folder / "meta.json").write_text(json.dumps(case.meta, indent=2) + "\n")
    return folder


# ---------------------------------------------------------------------------- the summary


def summary_row(case: MadeCase) -> dict[str, Any]:
    """What the summary table shows of one case."""
    meta = case.meta
    mis = meta["perturbation"]["misalign"]
    return {
        "case": case.name,
        "matte": meta["foreground"]["matte"],
        "background": Path(meta["background"]["source"]).stem,
        "shadow": "shadow_in_plate_only" in meta["perturbation"],
        "camouflage": bool(meta["hard_similar_colours"]),
        "misalign_px": float(math.hypot(mis["dx_px"], mis["dy_px"])),
        "rot_deg": float(mis["rot_deg"]),
        "colour_distance": float(meta["background"]["fg_bg_cbrt_colour_distance_near_subject"]),
        "exposure_stops": float(meta["perturbation"]["exposure_stops"]),
    }


def print_summary(rows: Sequence[dict[str, Any]]) -> None:
    titles = (
        "case",
        "matte",
        "background",
        "shadow",
        "camouflage",
        "misalign px",
        "rotation deg",
        "colour distance",
        "exposure stops",
    )
    print_header(titles, "lllllrrrr")
    for r in rows:
        print_row(
            [
                r["case"],
                r["matte"],
                r["background"],
                "yes" if r["shadow"] else "no",
                "yes" if r["camouflage"] else "no",
                f"{r['misalign_px']:.2f}",
                f"{r['rot_deg']:+.3f}",
                f"{r['colour_distance']:.3f}",
                f"{r['exposure_stops']:+.3f}",
            ]
        )


# ---------------------------------------------------------------------------- the set


def build_cases(
    data: str,
    out: str,
    count: int = 12,
    seed: int = 7000,
    long_side: int = 640,
    mattes: Sequence[str] = MATTES,
) -> list[dict[str, Any]]:
    """Make and write ``count`` cases under ``out`` from ``data`` (a folder with mattes/ and
    backgrounds/); prints the summary table; returns its rows."""
    from bgmatte.errors import BgmatteError

    root = Path(data)
    photos = sorted((root / "backgrounds").glob("*.exr"))
    if not photos:
        raise BgmatteError(
            "--data", f"no backgrounds/*.exr under {data}", "pass the shared data folder"
        )
    missing = [m for m in mattes if not (root / "mattes" / "gt" / f"{m}.png").is_file()]
    if missing:
        raise BgmatteError(
            "--data", f"no mattes/gt/{missing[0]}.png under {data}", "pass the shared data folder"
        )
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    subjects: dict[str, Subject] = {}
    rows = []
    for plan in plan_cases(mattes, photos, count, seed):
        if plan.matte not in subjects:
            subjects[plan.matte] = load_subject(root, plan.matte, long_side)
        case = make_case(plan, subjects[plan.matte], read_photo(plan.photo), root.name)
        write_case(target, case)
        rows.append(summary_row(case))
    print_summary(rows)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder to write the case folders into")
    parser.add_argument(
        "--data", default="../shared/data", help="folder with mattes/ and backgrounds/"
    )
    parser.add_argument("--count", type=int, default=12, help="how many cases")
    parser.add_argument("--seed", type=int, default=7000, help="seed of the first case")
    parser.add_argument("--long-side", type=int, default=640, help="output long side, px")
    parser.add_argument(
        "--mattes", default=",".join(MATTES), help="comma-separated matte names (mattes/gt)"
    )
    parser.add_argument("--json", help="also write the summary rows as JSON here")


def _run(args: argparse.Namespace) -> list[dict]:
    return build_cases(
        args.data, args.out, args.count, args.seed, args.long_side, args.mattes.split(",")
    )


BENCHMARK = Benchmark(
    "cases", "build a validation set of cases from mattes and HDR photos", _add_arguments, _run
)
