"""Training composites for the photo model, built on the fly in scene-linear light.

Each sample is a foreground (a bundle matte under a random crop/scale/flip/rotation, or a
procedural subject; sometimes two layered) composited over a background (a bundle HDR crop
under a random exposure, or a procedural one): ``plate = alpha*F + (1-alpha)*B_plate``. The
clean plate is the same background captured again, perturbed as a real capture is (Sengupta
et al. 2020 §3.1; Lin et al. 2021 §4): its own sensor noise, exposure and white balance,
a small misalignment, and none of the plate's cast shadows.

Which arrays carry what (so the compositing identity can be tested exactly):

- ``plate``: ``alpha*foreground + (1-alpha)*background`` **plus** sensor noise.
- ``clean_plate``: the background canvas without shadows, warped (misalignment), times the
  exposure/white-balance gains, **plus** independent sensor noise.
- ``background``: noise-free background behind the subject in the plate (bundle exposure,
  defocus, similar-colour pull and cast shadows included).
- ``alpha``, ``foreground``: noise-free ground truth; ``foreground`` is 0 where alpha is 0.
- ``segmentation``: a soft prior of alpha, all 0 where ``has_segmentation`` is 0: a degraded
  copy of alpha, or (``classical_prior``) the classical engine's difference matte of this
  very plate and clean plate, the prior the network engine derives at inference.

Needs only numpy and scipy: the bundle is a plain ``.npz`` (see ``bundle.py``). Every sample
is drawn from its own stream, a child of ``np.random.default_rng([seed, step])``, and each
sample splits into independent streams for foreground, background, capture, shadows and
segmentation: a sample does not depend on the batch size, and switching a capture
augmentation on or off leaves alpha and foreground unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy import ndimage

from bgmatte.plugin.training import hard_cases, procedural

# Probabilities (p_*) and amounts of the augmentations; override any of them with the
# sampler's ``augment`` mapping (0 switches a probability off). Unknown keys are an error.
DEFAULT_AUGMENT: dict[str, float] = {
    "matte": 0.6,  # P(a foreground layer is a bundle matte) when a bundle is loaded
    "bundle_background": 0.6,  # P(background is a bundle HDR crop) when a bundle is loaded
    "hdr_fraction": 0.2,  # a bundle crop is exposed so 0 to this fraction of it exceeds 1.0
    "layers": 0.2,  # P(a second foreground layer over the first)
    "motion_blur": 0.15,  # P(a procedural foreground is motion-blurred, 3-25 px)
    "empty": 0.03,  # P(empty frame: alpha all 0)
    "full": 0.03,  # P(alpha-all-1 crop: the subject fills the frame)
    "noise": 1.0,  # P(Poisson-Gaussian sensor noise on plate and clean plate, independent)
    "read_sigma": 0.005,  # max read-noise sigma (drawn log-uniform from 0.001)
    "shot_gain": 0.002,  # max shot-noise gain, var = read² + gain*signal (from 0.0002)
    "exposure": 0.8,  # P(clean-plate exposure shift)
    "exposure_stops": 0.35,  # max |shift| in stops
    "white_balance": 0.8,  # P(clean-plate white-balance shift)
    "white_balance_amount": 0.06,  # max per-channel relative gain change
    "misalign": 0.8,  # P(clean plate misaligned: translation + rotation, sub-pixel)
    "misalign_px": 4.0,  # max translation in pixels
    "misalign_deg": 1.0,  # max |rotation| in degrees
    "shadow": 0.3,  # P(soft cast shadows x0.5-0.9 on the plate's background only)
    "similar_colour": 0.15,  # P(background colours pulled toward the subject's colour)
    "defocus": 0.25,  # P(background defocus, same blur on plate background and clean plate)
    "segmentation": 0.5,  # P(the sample comes with a segmentation prior)
    "classical_prior": 0.0,  # P(that prior is the classical engine's matte, not degraded alpha)
    "classical_prior_half": 0.0,  # P(that matte is computed as `prior = classical_half` does)
    "parallax": 0.0,  # P(a near layer of the clean plate moves further than the rest)
    "parallax_px": 4.0,  # max extra shift of that near layer, px
    # P(the clean plate is then matched to the plate's exposure and white balance by the
    # engines' own estimate, as both engines do before keying): train on what inference feeds
    "match_exposure": 0.0,
    # hard cases (hard_cases.py), each from the sample's own stream: off unless a stage sets them
    "camouflage": 0.0,  # P(the background takes the subject's colours behind much of it)
    "thin_strands": 0.0,  # P(1-2 px strands and wires over the subject, background textured)
    "veil": 0.0,  # P(a semi-transparent layer over or under the subject, background textured)
    "added_light": 0.0,  # P(glow / highlights the subject adds to the plate's background)
    "halo": 0.0,  # P(a glow hugging the subject's outline on the plate's background)
    "fringe": 0.0,  # P(a dense fringe of 2-6 px strands with 1-4 px gaps, background textured)
    "fringe_soft": 0.0,  # P(that fringe's strands are fuzzy: soft edges, 0.5-1 opaque)
}


_HARD = ("camouflage", "thin_strands", "veil", "added_light", "halo", "fringe")


def _classical_matte(plate: np.ndarray, clean_plate: np.ndarray, halved: bool) -> np.ndarray:
    """The classical engine's alpha with its default params (the network engine's prior), at
    full size or, with ``halved``, as ``prior = classical_half`` computes it."""
    from bgmatte.plugin.engines import classical
    from bgmatte.plugin.params import resolve_params

    params = resolve_params({"engine": "classical"})
    if halved:
        return classical.run_halved(plate, clean_plate, params).alpha
    return classical.run(plate, clean_plate, None, params).alpha


_MARGIN = 8  # canvas border, so the misaligned clean plate never samples outside the scene


def _planar(img: np.ndarray) -> np.ndarray:
    """H×W[×C] to contiguous C×H×W float32 (the layout :func:`_bilinear` gathers from)."""
    img = np.asarray(img, np.float32)
    return np.ascontiguousarray(img[None] if img.ndim == 2 else img.transpose(2, 0, 1))


def _bilinear(planar: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample a C×H×W image at float pixel-centre coordinates (clamped to the edge).

    Returns ys.shape + (C,) float32. One flat gather per channel and corner, numpy only.
    """
    c, h, w = planar.shape
    y = np.clip(ys - np.float32(0.5), 0.0, h - 1.0).astype(np.float32).ravel()
    x = np.clip(xs - np.float32(0.5), 0.0, w - 1.0).astype(np.float32).ravel()
    y0 = np.minimum(y.astype(np.int32), max(h - 2, 0))
    x0 = np.minimum(x.astype(np.int32), max(w - 2, 0))
    fy, fx = y - y0, x - x0
    i = y0 * w + x0
    dx, dy = int(w > 1), w * int(h > 1)
    w00, w01 = (1 - fy) * (1 - fx), (1 - fy) * fx
    w10, w11 = fy * (1 - fx), fy * fx
    flat = planar.reshape(c, h * w)
    out = np.empty((i.size, c), np.float32)
    for k in range(c):
        p = flat[k]
        out[:, k] = (
            p.take(i) * w00
            + p.take(i + dx) * w01
            + p.take(i + dy) * w10
            + p.take(i + dy + dx) * w11
        )
    return out.reshape((*ys.shape, c))


def _affine_coords(
    size: int, centre: np.ndarray, scale: float, angle: float, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates of a size² output whose centre maps to ``centre`` (y, x)."""
    g = np.arange(size, dtype=np.float32) + 0.5 - size / 2
    yy, xx = np.meshgrid(g, g, indexing="ij")
    if flip:
        xx = -xx
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    c, s = np.float32(c), np.float32(s)
    cy, cx = np.float32(centre[0]), np.float32(centre[1])
    return cy + c * yy + s * xx, cx - s * yy + c * xx


class CompositeSampler:
    """Batches of training composites; see the module docstring for what each array holds.

    ``bundle_path`` is the ``.npz`` from :func:`bgmatte.plugin.training.bundle.build_bundle`
    (``None``: procedural data only). ``augment`` overrides entries of ``DEFAULT_AUGMENT``.
    """

    def __init__(
        self,
        bundle_path: str | Path | None,
        augment: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        unknown = set(augment or {}) - set(DEFAULT_AUGMENT)
        if unknown:
            known = ", ".join(sorted(DEFAULT_AUGMENT))
            raise ValueError(f"unknown augment keys {sorted(unknown)}; known: {known}")
        self.augment = {**DEFAULT_AUGMENT, **(augment or {})}
        self.seed = int(seed)
        self.mattes: list[tuple[np.ndarray, np.ndarray]] = []  # (planar P+alpha, interior)
        self.backgrounds: list[np.ndarray] = []
        if bundle_path is not None:
            self._load(Path(bundle_path))

    def _load(self, path: Path) -> None:
        with np.load(path) as z:
            keys = sorted(z.files)
            for k in (k for k in keys if k.startswith("alpha_")):
                a = z[k].astype(np.float32) / 255.0
                fg = z["fg_" + k[6:]].astype(np.float32)
                # premultiplied + alpha as one 4-channel planar image: resampled together
                # a zero border: views reaching past the photo see alpha 0, not a smear
                rgba = _planar(np.concatenate([fg * a[..., None], a[..., None]], axis=2))
                rgba = np.pad(rgba, ((0, 0), (1, 1), (1, 1)))
                # distance to the nearest non-opaque pixel: where alpha-all-1 crops may sit
                interior = ndimage.distance_transform_edt(a >= 1.0).astype(np.float32)
                self.mattes.append((rgba, interior))
            self.backgrounds = [_planar(z[k]) for k in keys if k.startswith("bg_")]

    # -- one sample ---------------------------------------------------------------------------

    def _matte(self, rng: np.random.Generator, size: int, full: bool) -> procedural.Layer | None:
        """A random view of a bundle matte as a premultiplied layer (None: no such view)."""
        rgba, interior = self.mattes[int(rng.integers(len(self.mattes)))]
        h, w = interior.shape  # the photo; rgba has a one-pixel zero border around it
        a = rgba[3, 1:-1, 1:-1]
        angle = float(rng.normal(0.0, 0.2)) if rng.random() < 0.5 else 0.0
        spread = abs(np.cos(angle)) + abs(np.sin(angle))
        if full:  # zoom into the opaque interior
            scale = float(rng.uniform(0.2, 0.6))
            ok = np.argwhere(interior > size * scale * spread * 0.75)
            if len(ok) == 0:
                return None
            centre = ok[int(rng.integers(len(ok)))].astype(np.float32) + 0.5
        elif rng.random() < 0.5:  # the output square stays inside the photo
            smax = min(h, w) / (size * spread)
            scale = float(np.exp(rng.uniform(np.log(min(0.5, smax)), np.log(smax))))
            half = size * scale * spread / 2
            centre = np.array(
                [rng.uniform(half, max(half, h - half)), rng.uniform(half, max(half, w - half))],
                np.float32,
            )
        else:  # zoomed out, the subject smaller than the frame: alpha 0 beyond the photo,
            # but sides of the photo that cut through the subject stay outside the frame
            angle = 0.0
            scale = float(rng.uniform(0.7, 1.4)) * max(h, w) / size
            half = size * scale / 2
            cut = [a[0].max() > 0, a[-1].max() > 0, a[:, 0].max() > 0, a[:, -1].max() > 0]
            lo_y = half if cut[0] else 0.6 * h - half  # the frame sees >= 20 % of the photo
            hi_y = h - half if cut[1] else 0.4 * h + half
            lo_x = half if cut[2] else 0.6 * w - half
            hi_x = w - half if cut[3] else 0.4 * w + half
            if lo_y > hi_y or lo_x > hi_x:
                return self._matte(rng, size, full)  # cannot: draw another view
            centre = np.array([rng.uniform(lo_y, hi_y), rng.uniform(lo_x, hi_x)], np.float32)
        ys, xs = _affine_coords(size, centre + 1.0, scale, angle, bool(rng.random() < 0.5))
        # resample premultiplied colour, then divide: correct filtering of a matte
        out = _bilinear(rgba, ys, xs)
        return out[..., :3], out[..., 3]

    def _foreground(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        aug = self.augment
        u = rng.random()
        if u < aug["empty"]:
            return np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32)
        full = u < aug["empty"] + aug["full"]
        n = 1 if full else 1 + int(rng.random() < aug["layers"])
        layer: procedural.Layer | None = None
        for _ in range(n):
            top: procedural.Layer | None = None
            if self.mattes and rng.random() < aug["matte"]:
                for _ in range(4):  # a view that misses the subject: look again
                    top = self._matte(rng, size, full)
                    if top is None or top[1].max() > 0.0:
                        break
            if top is None and full:
                colour = procedural._texture_colour(rng, size, True)
                top = colour, np.ones((size, size), np.float32)
            if top is None:
                f, a = procedural.procedural_foreground(rng, size, aug["motion_blur"])
                top = f * a[..., None], a
            layer = top if layer is None else procedural.over(top, layer)
        assert layer is not None
        fg, alpha = procedural.unpremultiply(layer)
        if full:
            alpha = np.ones_like(alpha)
        return fg, alpha

    def _background(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """The scene behind the subject on a canvas ``size + 2*_MARGIN`` square."""
        big = size + 2 * _MARGIN
        if self.backgrounds and rng.random() < self.augment["bundle_background"]:
            bg = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            h, w = bg.shape[1:]
            angle = float(rng.normal(0.0, 0.1))
            spread = abs(np.cos(angle)) + abs(np.sin(angle))
            smax = min(h, w) / (big * spread)
            scale = float(np.exp(rng.uniform(np.log(min(0.4, smax)), np.log(smax))))
            half = big * scale * spread / 2
            centre = np.array([rng.uniform(half, h - half), rng.uniform(half, w - half)])
            ys, xs = _affine_coords(big, centre, scale, angle, bool(rng.random() < 0.5))
            img = np.maximum(_bilinear(bg, ys, xs), 0.0)
            # exposure so that a fraction 0-hdr_fraction of pixels exceeds 1.0
            peak = img.max(axis=2).ravel()
            frac = rng.uniform(0.0, self.augment["hdr_fraction"])
            kth = min(peak.size - 1, int((1.0 - frac) * peak.size))
            q = float(np.partition(peak, kth)[kth])
            img *= np.float32(np.clip(1.0 / max(q, 1e-6), 1 / 64, 64.0))
            return img
        return procedural.procedural_background(rng, big)

    def _capture(
        self,
        rng: np.random.Generator,
        r_shadow: np.random.Generator,
        canvas: np.ndarray,
        fg: np.ndarray,
        alpha: np.ndarray,
        light: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Plate, clean plate and the plate's background from the background canvas.

        Shadows draw from their own stream, so switching them leaves the clean plate as is.
        ``light``: added to the plate's background only (the subject's glow, H×W×3).
        """
        aug = self.augment
        size = alpha.shape[0]
        m = _MARGIN
        if rng.random() < aug["similar_colour"] and alpha.sum() > 0:
            target = (fg * alpha[..., None]).sum((0, 1)) / alpha.sum()
            mean = canvas.mean((0, 1)) + 1e-6
            t = rng.uniform(0.5, 0.9)
            canvas = canvas * ((1 - t) + t * target / mean)
        if rng.random() < aug["defocus"]:
            sigma = rng.uniform(1.0, 4.0)
            canvas = ndimage.gaussian_filter(canvas, (sigma, sigma, 0), mode="nearest")
        background = canvas[m : m + size, m : m + size].copy()
        if light is not None:
            background += light
        if r_shadow.random() < aug["shadow"]:
            lo = max(8, size // 4)
            blobs = procedural.ellipses(
                r_shadow, lo, int(r_shadow.integers(1, 4)), (lo * 0.1, lo * 0.5), (0.5, lo * 0.15)
            )
            blobs = procedural.resize_bilinear(blobs, size, size)
            depth = r_shadow.uniform(0.1, 0.5)  # multiplier 0.5-0.9 at the core
            background *= (1.0 - depth * blobs)[..., None]
        plate = alpha[..., None] * fg + (1.0 - alpha[..., None]) * background
        centre, ang = np.full(2, m + size / 2, np.float64), 0.0
        if rng.random() < aug["misalign"]:
            shift = rng.uniform(-1.0, 1.0, 2) * aug["misalign_px"]
            ang = float(np.deg2rad(rng.uniform(-1.0, 1.0) * aug["misalign_deg"]))
            centre = centre + shift
            ys, xs = _affine_coords(size, centre, 1.0, ang, False)
            clean = _bilinear(_planar(canvas), ys, xs)
        else:
            clean = canvas[m : m + size, m : m + size].copy()
        if aug["parallax"] > 0 and rng.random() < aug["parallax"]:
            clean = self._parallax(rng, canvas, clean, centre, ang)
        gain = np.ones(3, np.float32)
        if rng.random() < aug["exposure"]:
            gain *= np.float32(2.0 ** (rng.uniform(-1.0, 1.0) * aug["exposure_stops"]))
        if rng.random() < aug["white_balance"]:
            amount = aug["white_balance_amount"]
            gain *= (1.0 + rng.uniform(-amount, amount, 3)).astype(np.float32)
        clean = clean * gain
        noisy_plate = plate
        if rng.random() < aug["noise"]:
            read = math.exp(rng.uniform(math.log(0.001), math.log(max(aug["read_sigma"], 0.001))))
            shot = math.exp(rng.uniform(math.log(0.0002), math.log(max(aug["shot_gain"], 0.0002))))
            noisy_plate = plate + self._noise(rng, plate, read, shot)
            clean = clean + self._noise(rng, clean, read, shot)
        if aug["match_exposure"] > 0 and rng.random() < aug["match_exposure"]:
            from bgmatte.plugin.exposure import matched_clean_plate

            clean = matched_clean_plate(noisy_plate, clean, True)
        return {"plate": noisy_plate, "clean_plate": clean, "background": background}

    def _parallax(
        self,
        rng: np.random.Generator,
        canvas: np.ndarray,
        clean: np.ndarray,
        centre: np.ndarray,
        ang: float,
    ) -> np.ndarray:
        """A near layer (posts, rails, blobs: a soft mask) that a moved camera sees shifted
        further than the rest: what a homography cannot align (hand-held clean plates)."""
        size = clean.shape[0]
        g = np.arange(size, dtype=np.float32)
        mask = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            pos, half = rng.uniform(0, size), rng.uniform(0.03, 0.12) * size
            band = (np.abs(g - pos) < half).astype(np.float32)
            mask = np.maximum(mask, band[None, :] if rng.random() < 0.6 else band[:, None])
        if rng.random() < 0.5:
            lo = max(8, size // 4)
            blobs = procedural.ellipses(rng, lo, int(rng.integers(1, 3)), (lo * 0.1, lo * 0.3))
            mask = np.maximum(mask, procedural.resize_bilinear(blobs, size, size))
        mask = ndimage.gaussian_filter(mask, 0.7)[..., None]
        extra = rng.uniform(-1.0, 1.0, 2) * self.augment["parallax_px"]
        ys, xs = _affine_coords(size, centre + extra, 1.0, ang, False)
        near = _bilinear(_planar(canvas), ys, xs)
        return (clean * (1.0 - mask) + near * mask).astype(np.float32)

    @staticmethod
    def _noise(rng: np.random.Generator, img: np.ndarray, read: float, shot: float) -> np.ndarray:
        """Poisson–Gaussian noise, var = read² + shot·max(signal, 0) (Gaussian approximation)."""
        sd = np.sqrt(read * read + shot * np.maximum(img, 0.0)).astype(np.float32)
        return sd * rng.standard_normal(img.shape, dtype=np.float32)

    @staticmethod
    def _segmentation(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
        """A soft, wrong-in-places prior: dilated/eroded, holes, false blobs, blurred."""
        size = alpha.shape[0]
        sigma = rng.uniform(1.0, 5.0)
        soft = ndimage.gaussian_filter(alpha, sigma, mode="nearest")
        seg = (soft > rng.uniform(0.15, 0.85)).astype(np.float32)  # <0.5 dilates, >0.5 erodes
        lo = max(8, size // 4)
        if rng.random() < 0.5:
            holes = procedural.ellipses(rng, lo, int(rng.integers(1, 4)), (1.0, lo * 0.12))
            seg *= 1.0 - procedural.resize_bilinear(holes, size, size)
        if rng.random() < 0.5:
            blobs = procedural.ellipses(rng, lo, int(rng.integers(1, 4)), (1.0, lo * 0.15))
            seg = np.maximum(seg, procedural.resize_bilinear(blobs, size, size))
        seg = ndimage.gaussian_filter(seg, rng.uniform(1.0, 3.0), mode="nearest")
        return np.clip(seg, 0.0, 1.0).astype(np.float32)

    def _hard_cases(
        self, rng: np.random.Generator, fg: np.ndarray, alpha: np.ndarray, canvas: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Foreground, alpha, canvas and added light after the hard-case generators drawn
        (each with its own probability; none drawn: the inputs as they are)."""
        aug = self.augment
        drawn = {k: aug[k] > 0 and rng.random() < aug[k] for k in _HARD}
        if not any(drawn.values()):
            return fg, alpha, canvas, None
        if drawn["thin_strands"] or drawn["veil"]:
            canvas = hard_cases.texture(rng, canvas)
        if drawn["camouflage"]:  # after the texture: what is behind the subject is its colour
            canvas = hard_cases.camouflage(rng, canvas, fg, alpha, _MARGIN)
        if drawn["thin_strands"] or drawn["veil"]:
            layer: procedural.Layer = (fg * alpha[..., None], alpha)
            if drawn["veil"]:
                layer = hard_cases.veil(rng, layer)
            if drawn["thin_strands"]:
                layer = hard_cases.thin_strands(rng, canvas, layer)
            fg, alpha = procedural.unpremultiply(layer)
        size = alpha.shape[0]
        inner = canvas[_MARGIN : _MARGIN + size, _MARGIN : _MARGIN + size]
        light = hard_cases.added_light(rng, inner) if drawn["added_light"] else None
        if drawn["halo"]:  # drawn last: configs without it reproduce their batches to the bit
            glow = hard_cases.halo(rng, fg, alpha, inner)
            light = glow if light is None else light + glow
        if drawn["fringe"]:  # drawn after the halo, for the same reason
            canvas = hard_cases.texture(rng, canvas)
            fg, alpha = procedural.unpremultiply(
                hard_cases.fringe(rng, (fg * alpha[..., None], alpha), aug["fringe_soft"])
            )
        return fg, alpha, canvas, light

    def _one(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        # a sixth stream for the hard cases: the first five are those of earlier stages
        r_fg, r_bg, r_cap, r_shadow, r_seg, r_hard = rng.spawn(6)
        fg, alpha = self._foreground(r_fg, size)
        canvas = self._background(r_bg, size)
        fg, alpha, canvas, light = self._hard_cases(r_hard, fg, alpha, canvas)
        out = self._capture(r_cap, r_shadow, canvas, fg, alpha, light)
        has = r_seg.random() < self.augment["segmentation"]
        if (
            has
            and self.augment["classical_prior"] > 0
            and (r_seg.random() < self.augment["classical_prior"])
        ):
            # drawn only when set: configs without it reproduce their batches to the bit
            half = self.augment["classical_prior_half"]
            halved = half > 0 and bool(r_seg.random() < half)
            seg = _classical_matte(out["plate"], out["clean_plate"], halved)
        elif has:
            seg = self._segmentation(r_seg, alpha)
        else:
            seg = np.zeros_like(alpha)
        out.update(alpha=alpha, foreground=fg, segmentation=seg)
        out["has_segmentation"] = np.asarray(has, np.float32)
        return out

    def sample(
        self, step: int, batch: int, size: int, part: tuple[int, int] | None = None
    ) -> dict[str, np.ndarray]:
        """A batch of ``batch`` composites ``size``² as float32 NCHW arrays (has_segmentation:
        (B,)); the same (seed, step) always gives the same batch.

        ``part=(rank, parts)``: only that contiguous slice of the batch, samples
        ``rank*batch//parts`` to ``(rank+1)*batch//parts`` (one data-parallel process's
        share); the slices of ranks 0..parts-1, concatenated, are the whole batch to the bit.
        """
        streams = np.random.default_rng([self.seed, int(step)]).spawn(batch)
        if part is not None:
            rank, parts = part
            streams = streams[rank * batch // parts : (rank + 1) * batch // parts]
        samples = [self._one(r, size) for r in streams]
        out: dict[str, np.ndarray] = {}
        for key in ("plate", "clean_plate", "alpha", "foreground", "background", "segmentation"):
            stack = np.stack([s[key] for s in samples])
            stack = stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2)
            out[key] = np.ascontiguousarray(stack, dtype=np.float32)
        out["has_segmentation"] = np.array([s["has_segmentation"] for s in samples], np.float32)
        return out
