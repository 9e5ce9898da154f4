"""Hard cases for the photo model's training composites: what the shipped model gets wrong.

The three failures an artist sees in the contact sheets (issue 16), and the set light that the
shadow and light passes separate after keying, each as a generator the sampler draws with its
own probability (``DEFAULT_AUGMENT``: ``camouflage``, ``thin_strands``, ``veil``,
``added_light``, ``halo``, ``fringe``; all off unless a config sets them, so earlier stages
reproduce to the bit):

- **camouflage**: over large parts of the subject the background takes the subject's own
  colours, within a few percent (a few noise sigmas), so only the shape can fill the matte
  there (Sengupta et al. 2020 §4 name it the method's main failure);
- **thin strands and wires**, 1-2 px wide, at a contrast against the background that the
  difference shows, over a background textured at the strands' scale;
- **semi-transparent layers** (veils, glass) over a textured background: the texture seen
  through the layer fixes alpha, so unlike over a flat background the layer is identifiable;
- **added light**: glow and highlights the subject puts on the set (alpha 0 there, plate
  brighter than the clean plate), which must key as background;
- **halo**: the same light hugging the subject's outline (a glow or bounce of the subject,
  brightest at its edge and falling off with distance, as a lit or emissive subject throws it
  on the set nearby), which a network that has only seen glows apart from the subject keys as
  a soft edge (``bgmatte bench shadow``'s glow shots);
- **fringe**: a dense fringe of solid strands 2-6 px wide (yarn, dreadlocks, tassels) with
  gaps of 1-4 px between them where the background shows, over a textured background: the
  dense yarn of the dev and validation cases, whose gaps both the network and the classical
  prior fill.

Every function takes its own random stream and returns new arrays (numpy and scipy only).
Canvases are the sampler's background canvas, ``margin`` px wider than the frame on each side.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bgmatte.plugin.training import procedural

_CAMOUFLAGE_TOLERANCE = 0.03  # relative colour difference left between subject and background


def _fill_outward(fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The subject's colour everywhere: each pixel takes the colour of the nearest pixel
    where the subject is mostly opaque (α > 0.5), so a background built from it continues the
    subject's colours past its edge."""
    _, (iy, ix) = ndimage.distance_transform_edt(alpha <= 0.5, return_indices=True)
    return fg[iy, ix]


def camouflage(
    rng: np.random.Generator, canvas: np.ndarray, fg: np.ndarray, alpha: np.ndarray, margin: int
) -> np.ndarray:
    """The canvas with the subject's own colours (within ``_CAMOUFLAGE_TOLERANCE``) behind
    30-100 % of it, under a soft mask; unchanged where the subject has no opaque pixel."""
    if not (alpha > 0.5).any():
        return canvas
    size = alpha.shape[0]
    ys, xs = np.nonzero(alpha > 0.5)
    lo = max(8, size // 4)
    # soft ellipses around the subject's centre of mass, sized from its extent
    extent = max(float(ys.std()), float(xs.std()), 2.0) / size * lo
    mask = np.zeros((lo, lo), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = (rng.normal([ys.mean(), xs.mean()], [ys.std(), xs.std()]) / size * lo).tolist()
        a, b = rng.uniform(1.0, 2.5, 2) * extent
        th = rng.uniform(0, np.pi)
        gy, gx = np.mgrid[0:lo, 0:lo].astype(np.float32) + 0.5
        u = (gy - cy) * np.cos(th) + (gx - cx) * np.sin(th)
        v = -(gy - cy) * np.sin(th) + (gx - cx) * np.cos(th)
        inside = 1.0 - np.sqrt((u / a) ** 2 + (v / b) ** 2)
        mask = np.maximum(mask, np.clip(inside * 3.0, 0.0, 1.0))
    mask = procedural.resize_bilinear(mask, size, size)[..., None]
    tint = 1.0 + rng.uniform(-1.0, 1.0, 3) * _CAMOUFLAGE_TOLERANCE
    wobble = 1.0 + _CAMOUFLAGE_TOLERANCE * (procedural.value_noise(rng, size, 6) - 0.5)
    look = _fill_outward(fg, alpha) * (tint * wobble).astype(np.float32)
    out = canvas.copy()
    inner = out[margin : margin + size, margin : margin + size]
    inner[...] = inner * (1.0 - mask) + look * mask
    return out


def texture(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """The canvas times a fine multiplicative texture (features of 2-8 px, ×0.5-×2): what a
    strand or a veil is seen against."""
    big = canvas.shape[0]
    cells = int(rng.integers(big // 8, big // 2 + 1))
    amp = rng.uniform(0.5, 1.4)
    noise = procedural.value_noise(rng, big, max(cells, 2), 1)[..., :1]
    return (canvas * np.exp(amp * (noise - 0.5) * 2.0)).astype(np.float32)


def thin_strands(
    rng: np.random.Generator, canvas: np.ndarray, layer: procedural.Layer
) -> procedural.Layer:
    """3-30 strands or wires 1-2 px wide over the subject layer, each 0.3-0.6× or 1.6-3× the
    background's mean brightness (a contrast the difference shows, not a silhouette)."""
    size = layer[1].shape[0]
    n = int(rng.integers(3, 31))
    mean = canvas.reshape(-1, 3).mean(0)
    gain = rng.uniform(0.3, 0.6) if rng.random() < 0.5 else rng.uniform(1.6, 3.0)
    colour = (mean * gain * rng.uniform(0.8, 1.25, 3)).astype(np.float32)
    hair = procedural.strands(
        rng,
        size,
        rng.uniform(0, size, (n, 2)).astype(np.float32),
        rng.uniform(0, 2 * np.pi, n).astype(np.float32),
        (size * 0.2, size * 1.0),
        (1.0, 2.0),
        colour,
        curl=float(rng.uniform(0.0, 0.02)),
    )
    return procedural.over(hair, layer)


def veil(rng: np.random.Generator, layer: procedural.Layer) -> procedural.Layer:
    """A semi-transparent layer (alpha 0.2-0.8, smooth, tinted) over or under the subject."""
    size = layer[1].shape[0]
    shape = procedural.ellipses(
        rng, size, int(rng.integers(1, 3)), (size * 0.15, size * 0.45), (1.0, 8.0)
    )
    level = rng.uniform(0.2, 0.8)
    va = np.clip(shape * level, 0.0, 1.0).astype(np.float32)
    v: procedural.Layer = (procedural.random_colour(rng, 0.05, 1.0) * va[..., None], va)
    return procedural.over(v, layer) if rng.random() < 0.5 else procedural.over(layer, v)


def added_light(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """Light the subject adds to the set, ≥ 0 (H×W×3): a soft glow (bounce, an emissive prop)
    of 0.1-1× the background's mean, and sometimes small bright highlights (reflections)."""
    size = background.shape[0]
    lo = max(8, size // 4)
    glow = procedural.ellipses(rng, lo, int(rng.integers(1, 3)), (lo * 0.1, lo * 0.4), (1.0, 6.0))
    mean = background.reshape(-1, 3).mean(0)
    colour = procedural.random_colour(rng, 0.3, 1.0) * mean * rng.uniform(0.1, 1.0) / 0.65
    light = procedural.resize_bilinear(glow, size, size)[..., None] * colour
    light = np.ascontiguousarray(light, dtype=np.float32)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, size, 2).tolist()
            spot = procedural.random_colour(rng, 0.5, 1.0) * float(mean.mean()) * rng.uniform(1, 4)
            procedural.add_spot(light, cy, cx, rng.uniform(0.7, size / 40), spot)
    return np.maximum(light, 0.0).astype(np.float32)


def halo(
    rng: np.random.Generator, fg: np.ndarray, alpha: np.ndarray, background: np.ndarray
) -> np.ndarray:
    """Light the subject throws on the set around it, ≥ 0 (H×W×3): its matte blurred over
    2-16 % of the frame, of the subject's own colour (its glow) or another (a bounce), peaking
    at 0.15-1.5× the background's mean at the subject's edge."""
    size = alpha.shape[0]
    reach = size * rng.uniform(0.02, 0.16)
    spread = ndimage.gaussian_filter(alpha.astype(np.float32), reach, mode="nearest")
    a = alpha.astype(np.float64).sum()
    if rng.random() < 0.5 and a > 0:
        colour = (fg * alpha[..., None]).reshape(-1, 3).sum(0) / a
        colour = colour / max(float(colour.mean()), 1e-6)
    else:
        colour = procedural.random_colour(rng, 0.3, 1.0) / 0.65
    level = float(background.mean()) * rng.uniform(0.15, 1.5) / 0.5  # spread is ~0.5 at the edge
    light = spread[..., None] * (colour * level).astype(np.float32)
    return np.maximum(light, 0.0).astype(np.float32)


def fringe(
    rng: np.random.Generator, layer: procedural.Layer, soft: float = 0.0
) -> procedural.Layer:
    """8-40 solid strands 2-6 px wide hanging side by side with gaps of 1-4 px, each its own
    colour and gently waving, in place of the subject where they hang: the subject is cut
    from the fringe's hull (its gaps closed), so the gaps show the background, as between the
    strands of a yarn subject (over the subject, they would show it, and teach the network to
    fill gaps). Drawn at twice the resolution as the distance to each strand's centre line,
    anti-aliased by the halving. With probability ``soft`` the strands are fuzzy instead:
    edges ramping over 0.5-2 px and each strand 0.5-1 opaque, as fibres and hair are (solid
    strands alone taught that a strand is opaque; drawn after the rest, so ``soft`` 0 draws
    what it drew before)."""
    size = layer[1].shape[0]
    big = 2 * size
    n = int(rng.integers(8, 41))
    widths, gaps = rng.uniform(2.0, 6.0, n), rng.uniform(1.0, 4.0, n)
    heading = rng.uniform(0, 2 * np.pi)
    along = np.array([np.sin(heading), np.cos(heading)])  # (y, x)
    across = np.array([-along[1], along[0]])
    offsets = np.cumsum(widths + gaps) - (widths + gaps).sum() / 2
    centre = rng.uniform(0.25, 0.75, 2) * size
    t = np.arange(0.0, 1.0, 0.25 / size)[:, None]  # steps of a quarter px along a strand
    lines = np.zeros((big, big), bool)
    label = np.zeros((big, big), np.int32)
    for i in range(n):
        wave = rng.uniform(0.5, 3.0) * np.sin(
            2 * np.pi * (rng.uniform(0.3, 1.5) * t + rng.random())
        )
        start, length = rng.uniform(-0.3, 0.0) * size, rng.uniform(0.4, 1.2) * size
        pts = centre + across * (offsets[i] + wave) + along * (start + t * length)
        yx = np.round(pts * 2).astype(np.int64)
        yx = yx[(yx >= 0).all(1) & (yx < big).all(1)]
        lines[yx[:, 0], yx[:, 1]] = True
        label[yx[:, 0], yx[:, 1]] = i
    if not lines.any():
        return layer
    dist, (iy, ix) = ndimage.distance_transform_edt(~lines, return_indices=True)
    which = label[iy, ix]
    cover = np.clip(widths[which] - dist + 0.5, 0.0, 1.0)  # half-width w at twice the size
    colours = np.stack([procedural.random_colour(rng, 0.03, 0.8) for _ in range(n)])
    shade = 1.0 + 0.3 * (procedural.value_noise(rng, big, max(big // 16, 2))[..., 0] - 0.5)
    if soft > 0 and rng.random() < soft:
        ramp, opacity = rng.uniform(1.0, 4.0), rng.uniform(0.5, 1.0, n)  # ramp at twice the size
        cover = np.clip((widths[which] - dist) / ramp + 0.5, 0.0, 1.0) * opacity[which]
    prem = cover[..., None] * colours[which] * shade[..., None]
    a = cover.reshape(size, 2, size, 2).mean((1, 3)).astype(np.float32)
    p = prem.reshape(size, 2, size, 2, 3).mean((1, 3)).astype(np.float32)
    hull = ndimage.grey_closing(a, size=(9, 9))  # the fringe with its gaps (≤ 4 px) closed
    keep = (1.0 - hull)[..., None]
    cut: procedural.Layer = (layer[0] * keep, layer[1] * keep[..., 0])
    return procedural.over((p, a), cut)
