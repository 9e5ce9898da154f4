"""Procedural foregrounds (exact alpha and colour) and HDR backgrounds for training.

Real mattes are few and their foreground colour is an estimate; procedural layers give exact
ground truth for the hard cases the network must learn: soft silhouettes, hair and fur
strands thinner than a pixel, semi-transparent veils and glass, holes, wires and fingers, and
motion blur. Everything is scene-linear float32 (highlights above 1 kept), numpy and scipy
only, and deterministic given the ``np.random.Generator``.

Layers are premultiplied ``(P, a)`` pairs, stacked with the Porter–Duff *over* operator
(``P = P_top + (1 - a_top) P_bottom``); the foreground returned is ``P / a`` (0 where a = 0).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage, signal

Layer = tuple[np.ndarray, np.ndarray]  # premultiplied colour H×W×3, alpha H×W


@functools.lru_cache(maxsize=64)
def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear-interpolation weights n_out×n_in with aligned corners (cached)."""
    m = np.zeros((n_out, n_in), np.float32)
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    i0 = np.minimum(pos.astype(np.int64), max(n_in - 2, 0))
    f = (pos - i0).astype(np.float32)
    rows = np.arange(n_out)
    m[rows, i0] = 1.0 - f
    m[rows, np.minimum(i0 + 1, n_in - 1)] += f
    m.flags.writeable = False
    return m


def resize_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of H×W[×C] with aligned corners, as two small matrix products."""
    ih, iw = img.shape[:2]
    ry, rx = _interp_matrix(ih, h), _interp_matrix(iw, w)
    a = np.asarray(img, np.float32)
    if a.ndim == 2:
        return np.asarray(ry @ a @ rx.T, np.float32)
    c = a.shape[2]
    rows = (ry @ a.reshape(ih, iw * c)).reshape(h, iw, c)
    return np.ascontiguousarray((rows.transpose(0, 2, 1) @ rx.T).transpose(0, 2, 1))


def value_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Smooth noise in [0, 1]: a random ``cells``² grid upsampled bilinearly to ``size``²."""
    grid = rng.random((cells + 1, cells + 1, channels), dtype=np.float32)
    return resize_bilinear(grid, size, size)


def fractal(rng: np.random.Generator, size: int, octaves: int = 4, base: int = 3) -> np.ndarray:
    """Sum of value-noise octaves (detail at several scales), roughly zero-mean, H×W.

    Octaves are summed on a pyramid (each coarse sum upsampled ×2 before the next grid is
    added), so only one full-resolution resize is paid."""
    cells = base
    acc = rng.random((cells + 1, cells + 1), dtype=np.float32) - 0.5
    amp, total = 1.0, 1.0
    for _ in range(1, octaves):
        if cells * 2 > size // 2:
            break
        cells *= 2
        amp *= float(rng.uniform(0.45, 0.8))
        acc = resize_bilinear(acc, cells + 1, cells + 1)
        acc += amp * (rng.random((cells + 1, cells + 1), dtype=np.float32) - 0.5)
        total += amp
    return resize_bilinear(acc, size, size) / np.float32(total)


def random_colour(rng: np.random.Generator, lo: float = 0.01, hi: float = 0.8) -> np.ndarray:
    """A linear RGB colour, log-uniform brightness, random saturation."""
    grey = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    tint = rng.dirichlet(np.full(3, rng.uniform(0.7, 8.0))) * 3.0
    return (grey * tint).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x), cached and read-only."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def add_spot(img: np.ndarray, cy: float, cx: float, r: float, colour: np.ndarray) -> None:
    """Add a Gaussian spot (lights, highlights) in place, evaluated in a ±4r window only."""
    h, w = img.shape[:2]
    y0, y1 = max(0, int(cy - 4 * r)), min(h, int(cy + 4 * r) + 1)
    x0, x1 = max(0, int(cx - 4 * r)), min(w, int(cx + 4 * r) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - cy
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - cx
    spot = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / np.float32(2 * r * r))
    img[y0:y1, x0:x1] += spot[..., None] * colour


def _edge(sdist: np.ndarray, width: float) -> np.ndarray:
    """Coverage from a signed distance (negative inside), linear ramp ``width`` px wide."""
    return np.clip(0.5 - sdist / max(width, 1e-3), 0.0, 1.0)


def _texture_colour(rng: np.random.Generator, size: int, highlights: bool) -> np.ndarray:
    """Surface colour: a base colour modulated at several scales, some specular spots > 1."""
    base = random_colour(rng)
    second = random_colour(rng)
    mix = np.clip(fractal(rng, size, 4, int(rng.integers(2, 6))) * 2.0 + 0.5, 0.0, 1.0)
    col = base * (1 - mix[..., None]) + second * mix[..., None]
    col *= np.exp(fractal(rng, size, 3, 8) * rng.uniform(0.2, 1.2))[..., None]
    if highlights and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, size, 2).tolist()
            r = rng.uniform(2.0, size / 12)
            add_spot(col, cy, cx, r, np.full(3, rng.uniform(1.0, 6.0), np.float32))
    return col.astype(np.float32)


def blob(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A soft-edged silhouette: star-shaped radius r(θ) with random harmonics.

    Returns (alpha, centre (y, x), radius function samples over 360 angles) so that strands
    and fingers can grow from its boundary.
    """
    yy, xx = _grid(size)
    cy, cx = (rng.uniform(0.25, 0.75, 2) * size).tolist()
    r0 = rng.uniform(0.15, 0.45) * size
    k = np.arange(1, 7, dtype=np.float32)
    amp = rng.normal(0.0, 0.22, 6).astype(np.float32) / k
    phase = rng.uniform(0, 2 * np.pi, 6).astype(np.float32)
    angles = np.linspace(-np.pi, np.pi, 360, endpoint=False, dtype=np.float32)
    radius = (r0 * np.exp(np.cos(k * angles[:, None] + phase) @ amp)).astype(np.float32)
    dy, dx = yy - cy, xx - cx
    theta = np.arctan2(dy, dx)
    rho = np.sqrt(dy * dy + dx * dx)
    pos = (theta + np.float32(np.pi)) * np.float32(360 / (2 * np.pi))
    i0 = pos.astype(np.int64) % 360
    f = pos - np.floor(pos)
    r_theta = radius[i0] * (1 - f) + radius[(i0 + 1) % 360] * f
    alpha = _edge(rho - r_theta, float(np.exp(rng.uniform(np.log(0.7), np.log(6.0)))))
    return alpha, np.array([cy, cx], np.float32), radius


def _splat(size: int, ys: np.ndarray, xs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Bilinear splat of point weights (N or N×K) onto a size² grid: size×size[×K].

    Area-preserving and anti-aliased: a point's weight is shared by its four nearest pixel
    centres. Points off the grid land on a one-pixel border that is cropped away.
    """
    wk = np.asarray(w, np.float32).reshape(len(ys), -1)
    g = size + 2
    y = np.clip(ys.astype(np.float32) + np.float32(0.5), 0.0, size + 1.0)  # padded grid
    x = np.clip(xs.astype(np.float32) + np.float32(0.5), 0.0, size + 1.0)
    y0 = np.minimum(y.astype(np.int64), size)
    x0 = np.minimum(x.astype(np.int64), size)
    fy, fx = y - y0, x - x0
    i = y0 * g + x0
    idx = np.concatenate([i, i + 1, i + g, i + g + 1])
    corner = np.concatenate([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
    out = np.empty((g * g, wk.shape[1]), np.float32)
    for k in range(wk.shape[1]):
        out[:, k] = np.bincount(idx, corner * np.tile(wk[:, k], 4), g * g)
    out = out.reshape(g, g, -1)[1:-1, 1:-1]
    return out[..., 0] if w.ndim == 1 else out


def strands(
    rng: np.random.Generator,
    size: int,
    roots: np.ndarray,
    directions: np.ndarray,
    length: tuple[float, float],
    width: tuple[float, float],
    colour: np.ndarray,
    curl: float = 0.03,
) -> Layer:
    """Thin anti-aliased curved strands (hair, fur, wires) as one premultiplied layer.

    Each strand is a curve from ``roots`` (N×2, y x) heading along ``directions`` (N,
    radians) with a random, slowly changing curvature, width tapering to the tip. Points
    every 0.5 px are splatted with weight ``width × step`` (the area they cover), so a strand
    0.3 px wide contributes 0.3 coverage per pixel it crosses. Overlaps combine as
    ``alpha = 1 - exp(-coverage)`` (many thin occluders), exact for the colour we composite.
    """
    n = len(roots)
    lengths = rng.uniform(*length, n).astype(np.float32)
    widths = np.exp(rng.uniform(np.log(width[0]), np.log(width[1]), n)).astype(np.float32)
    m = max(2, int(np.ceil(lengths.max() / 0.5)))
    t = np.linspace(0.0, 1.0, m, dtype=np.float32)
    step = lengths / (m - 1)
    k0 = rng.normal(0.0, curl, n).astype(np.float32)
    k1 = rng.normal(0.0, curl / 2, n).astype(np.float32)
    heading = directions[:, None] + (k0[:, None] * t + k1[:, None] * t * t) * lengths[:, None]
    ys = roots[:, :1] + np.cumsum(np.sin(heading) * step[:, None], axis=1)
    xs = roots[:, 1:] + np.cumsum(np.cos(heading) * step[:, None], axis=1)
    taper = (1.0 - 0.8 * t) ** 0.7
    w = (widths[:, None] * step[:, None] * taper).ravel()
    shade = np.exp(rng.normal(0.0, 0.35, (n, 3))).astype(np.float32) * colour
    bright = rng.random(n) < 0.15  # backlit rim strands
    shade[bright] *= rng.uniform(2.0, 8.0, (int(bright.sum()), 1)).astype(np.float32)
    wc = (w.reshape(n, m, 1) * shade[:, None, :]).reshape(-1, 3)
    acc = _splat(size, ys.ravel(), xs.ravel(), np.concatenate([w[:, None], wc], axis=1))
    cov = acc[..., 0]
    alpha = 1.0 - np.exp(-cov)
    prem = acc[..., 1:] * (alpha / np.maximum(cov, 1e-12))[..., None]
    return prem.astype(np.float32), alpha.astype(np.float32)


def capsules(
    rng: np.random.Generator,
    size: int,
    n: int,
    radius: tuple[float, float],
    near: np.ndarray | None = None,
) -> np.ndarray:
    """Alpha of ``n`` capsules (fingers, poles): distance to a segment minus a radius."""
    yy, xx = _grid(size)
    out = np.zeros((size, size), np.float32)
    for _ in range(n):
        p0 = near if near is not None else rng.uniform(0, size, 2).astype(np.float32)
        p0 = p0 + rng.normal(0, size * 0.05, 2).astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        ln = rng.uniform(0.1, 0.5) * size
        d = np.array([np.sin(ang), np.cos(ang)], np.float32)
        t = np.clip((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1], 0.0, ln)
        dist = np.hypot(yy - p0[0] - t * d[0], xx - p0[1] - t * d[1])
        r = rng.uniform(*radius)
        out = np.maximum(out, _edge(dist - r, rng.uniform(0.7, 2.0)))
    return out


def ellipses(
    rng: np.random.Generator,
    size: int,
    n: int,
    radius: tuple[float, float],
    soft: tuple[float, float] = (0.7, 3.0),
) -> np.ndarray:
    """Union of ``n`` random rotated ellipses as soft coverage in [0, 1] (holes, veils, blobs)."""
    yy, xx = _grid(size)
    out = np.zeros((size, size), np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(0, size, 2).tolist()
        a, b = rng.uniform(*radius, 2).tolist()
        th = rng.uniform(0, np.pi)
        u = (yy - cy) * math.cos(th) + (xx - cx) * math.sin(th)
        v = -(yy - cy) * math.sin(th) + (xx - cx) * math.cos(th)
        sd = (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * min(a, b)
        out = np.maximum(out, _edge(sd, rng.uniform(*soft)))
    return out


def over(top: Layer, bottom: Layer) -> Layer:
    """Porter–Duff *over* on premultiplied layers."""
    keep = 1.0 - top[1]
    return top[0] + keep[..., None] * bottom[0], top[1] + keep * bottom[1]


def motion_blur(
    layer: Layer, rng: np.random.Generator, length: tuple[float, float] = (3, 25)
) -> Layer:
    """Blur premultiplied colour and alpha together along a random direction (a line kernel)."""
    ln = rng.uniform(*length)
    ang = rng.uniform(0, np.pi)
    k = int(np.ceil(ln)) | 1
    k += 2
    t = np.linspace(-ln / 2, ln / 2, max(2, int(ln * 3)), dtype=np.float32)
    kern = _splat(k, k / 2 + t * np.sin(ang), k / 2 + t * np.cos(ang), np.ones_like(t))
    kern /= kern.sum()
    stack = np.concatenate([layer[0], layer[1][..., None]], axis=2)
    pad = k // 2 + 1
    padded = np.pad(stack, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    blurred = signal.fftconvolve(padded, kern[..., None], mode="same", axes=(0, 1))
    blurred = blurred[pad:-pad, pad:-pad].astype(np.float32)
    alpha = np.clip(blurred[..., 3], 0.0, 1.0)
    return np.maximum(blurred[..., :3], 0.0), alpha


def procedural_foreground(
    rng: np.random.Generator, size: int, p_motion_blur: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """A random procedural subject: (foreground H×W×3 unpremultiplied linear, alpha H×W).

    A silhouette (often with holes and fingers), hair/fur strands from its edge, veils or
    glass, wires; any may be missing. Motion blur, when drawn, blurs the whole stack.
    """
    zero = (np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32))
    layer: Layer = zero
    if rng.random() < 0.85:
        a, centre, radius = blob(rng, size)
        if rng.random() < 0.35:
            holes = ellipses(rng, size, int(rng.integers(1, 4)), (size * 0.02, size * 0.1))
            a = a * (1.0 - holes)
        if rng.random() < 0.3:
            a = np.maximum(
                a, capsules(rng, size, int(rng.integers(1, 6)), (1.0, size * 0.03), near=centre)
            )
        layer = over((_texture_colour(rng, size, True) * a[..., None], a), layer)
        if rng.random() < 0.55:
            n = int(rng.integers(30, 300))
            ang = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
            idx = ((ang + np.pi) / (2 * np.pi) * 360).astype(np.int64) % 360
            r = radius[idx] * rng.uniform(0.9, 1.0, n).astype(np.float32)
            roots = np.stack([centre[0] + r * np.sin(ang), centre[1] + r * np.cos(ang)], 1)
            dirs = ang + rng.normal(0, 0.5, n).astype(np.float32)
            hair = strands(
                rng,
                size,
                roots,
                dirs,
                (size * 0.04, size * 0.3),
                (0.25, 2.0),
                random_colour(rng, 0.02, 0.9),
                curl=float(rng.uniform(0.0, 0.05)),
            )
            layer = over(hair, layer)
    if rng.random() < 0.35:  # veil / glass: alpha 0.2-0.8, tinted, with specular streaks
        shape = ellipses(rng, size, int(rng.integers(1, 3)), (size * 0.1, size * 0.4), (0.7, 8.0))
        level = rng.uniform(0.2, 0.8) * np.clip(1 + 0.3 * fractal(rng, size, 3, 3), 0.5, 1.5)
        va = np.clip(shape * level, 0.0, 1.0).astype(np.float32)
        vcol = random_colour(rng, 0.05, 1.0)
        veil: Layer = (vcol * va[..., None], va)
        if rng.random() < 0.5:
            n = int(rng.integers(1, 6))
            streak = strands(
                rng,
                size,
                rng.uniform(0, size, (n, 2)).astype(np.float32),
                rng.uniform(0, 2 * np.pi, n).astype(np.float32),
                (size * 0.1, size * 0.5),
                (0.5, 3.0),
                np.full(3, rng.uniform(1.5, 10.0), np.float32),
                curl=0.002,
            )
            veil = over((streak[0] * shape[..., None], streak[1] * 0.5 * shape), veil)
        layer = over(veil, layer) if rng.random() < 0.5 else over(layer, veil)
    if rng.random() < 0.2:  # wires across the frame
        n = int(rng.integers(1, 4))
        wires = strands(
            rng,
            size,
            rng.uniform(0, size, (n, 2)).astype(np.float32),
            rng.uniform(0, 2 * np.pi, n).astype(np.float32),
            (size * 0.8, size * 1.5),
            (0.4, 3.0),
            random_colour(rng, 0.01, 0.5),
            curl=0.001,
        )
        layer = over(wires, layer)
    if layer[1].max() <= 0.0:  # nothing drawn (empty frames are the sampler's choice)
        return procedural_foreground(rng, size, p_motion_blur)
    if rng.random() < p_motion_blur:
        layer = motion_blur(layer, rng)
    return unpremultiply(layer)


def unpremultiply(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(P, a) to (F, a) with F = P / a where a > 0 and 0 elsewhere."""
    prem, a = layer
    a = np.clip(a, 0.0, 1.0).astype(np.float32)
    fg = np.where(a[..., None] > 1e-6, prem / np.maximum(a, 1e-6)[..., None], 0.0)
    return fg.astype(np.float32), np.where(a > 1e-6, a, 0.0).astype(np.float32)


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A scene-linear HDR background H×W×3: textures at several scales, gradients, hard
    edges (window frames, shelves), and bright lights of 2–50."""
    yy, xx = _grid(size)
    c0, c1 = random_colour(rng, 0.02, 0.6), random_colour(rng, 0.02, 0.6)
    g = np.clip(
        (yy * math.sin(a := rng.uniform(0, 2 * np.pi)) + xx * math.cos(a)) / size + 0.5, 0.0, 1.0
    )
    img = c0 * (1 - g[..., None]) + c1 * g[..., None]
    tex = fractal(rng, size, int(rng.integers(4, 8)), int(rng.integers(2, 8)))
    img = (img * np.exp(tex * rng.uniform(0.5, 2.5))[..., None]).astype(np.float32)
    if rng.random() < 0.5:  # colour texture at a fine scale
        img = img * (1 + 0.4 * (value_noise(rng, size, int(rng.integers(8, 64)), 3) - 0.5))
    for _ in range(int(rng.integers(0, 4))):  # rectangles: walls, windows, shelves
        y0, x0 = (rng.uniform(-0.2, 1.0, 2) * size).astype(int)
        h, w = (rng.uniform(0.05, 0.7, 2) * size).astype(int) + 2
        ys, xs = slice(max(y0, 0), max(y0 + h, 0)), slice(max(x0, 0), max(x0 + w, 0))
        if rng.random() < 0.4:  # a window: bright, with a dark frame and a cross bar
            bright = random_colour(rng, 1.0, 8.0)
            img[ys, xs] = bright * (1 + 0.2 * tex[ys, xs, None])
            bar = int(rng.integers(1, 6))
            dark = random_colour(rng, 0.005, 0.1)
            my, mx = y0 + h // 2, x0 + w // 2
            for yb in (y0, my - bar // 2, y0 + h - bar):
                img[max(yb, 0) : max(yb + bar, 0), xs] = dark
            for xb in (x0, mx - bar // 2, x0 + w - bar):
                img[ys, max(xb, 0) : max(xb + bar, 0)] = dark
        else:
            img[ys, xs] *= random_colour(rng, 0.3, 2.0)
    for _ in range(int(rng.integers(0, 6))):  # point lights, 2-50
        cy, cx = rng.uniform(0, size, 2).tolist()
        add_spot(img, cy, cx, rng.uniform(0.7, size / 30), random_colour(rng, 2.0, 50.0))
    if rng.random() < 0.2:
        img = ndimage.gaussian_filter(img, (0.7, 0.7, 0))
    return np.asarray(img, np.float32)
