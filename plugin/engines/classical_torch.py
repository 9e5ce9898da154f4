"""The classical engine's matte (:func:`bgmatte.plugin.engines.classical.run`) as torch
operations, for a frame on a GPU: the network engine's soft segmentation prior with
``device = cuda``, so the frame stays on the device the network runs on (issue 15, "one device
end to end") instead of making a round trip through OpenCV on the CPU.

The same steps and constants as the CPU engine, each computed over the whole frame: on a GPU
the row strips, reach boxes and bands with which the CPU engine skips work cost more than they
save, and the CPU engine's shift-tolerant key is the same, to the bit, as shifting over the
whole frame. Gaussian blurs use OpenCV's kernels (``cv2.getGaussianKernel``, the size OpenCV
takes for them) and its border rule (``BORDER_REFLECT``); binary morphology uses the same
3×3 cross with the outside counting as 0. The noise model is fitted on the CPU, by the same
code, on the same fixed budget of samples (:func:`bgmatte.plugin.noise.samples`): a few
hundred kilobytes come down, not the frame. The twin takes no segmentation input (the network
engine derives the prior without one). On the CPU it runs too, which is how it is tested, but
OpenCV's filters are much faster there, so the CPU path keeps :mod:`.classical`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from bgmatte.plugin.engines import classical
from bgmatte.plugin.noise import NoiseModel, samples
from bgmatte.plugin.pixels import ALPHA_SNAP

Tensor = torch.Tensor


def _reflect_index(n: int, r: int, device: torch.device) -> Tensor:
    """Indices of ``n`` samples padded by ``r`` on both sides, mirrored as OpenCV's
    ``BORDER_REFLECT`` mirrors them (``cba|abcd|dcb``)."""
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur of each channel of ``x`` (C×H×W), as :func:`.classical._blur` computes it
    with OpenCV: kernel ``2·ceil(4σ) + 1`` taps, mirrored border. Rows, then columns, each a
    sum of shifted copies in float32 (not a convolution: on a GPU those may run in TF32, whose
    rounding would move the thresholds downstream)."""
    size = 2 * math.ceil(4.0 * sigma) + 1
    return separable(x, cv2.getGaussianKernel(size, sigma).astype(np.float32)[:, 0].tolist())


def separable(x: Tensor, taps: list[float]) -> Tensor:
    """Each channel of ``x`` (C×H×W) filtered by ``taps`` (odd count) along rows, then
    columns, with OpenCV's ``BORDER_REFLECT`` (as ``cv2.sepFilter2D``), in float32."""
    r = len(taps) // 2
    h, w = x.shape[1:]
    rows = x.index_select(2, _reflect_index(w, r, x.device))
    out = weighted_sum(taps, [rows[:, :, k : k + w] for k in range(len(taps))])
    cols = out.index_select(1, _reflect_index(h, r, x.device))
    return weighted_sum(taps, [cols[:, k : k + h] for k in range(len(taps))])


def weighted_sum(weights: Sequence[float], parts: Sequence[Tensor]) -> Tensor:
    """``sum(w * part)``, left to right (a filter's taps over shifted views)."""
    out = weights[0] * parts[0]
    for t, part in zip(weights[1:], parts[1:], strict=True):
        out = out + t * part
    return out


@functools.lru_cache(maxsize=8)
def _area(n: int, device: torch.device) -> Tensor:
    """The (n + 1) // 2 × n matrix of OpenCV's area filter from ``n`` samples to (n + 1) // 2:
    each output sample is the mean of the input interval it covers, the input samples
    weighed by their overlap with it (2×2 means where ``n`` is even). Made once per size and
    device: building it costs more than using it (an H200's host, 4K: 141 ms a frame)."""
    m = (n + 1) // 2
    scale = n / m
    lo = np.arange(m)[:, None] * scale
    edges = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(lo + scale, edges + 1) - np.maximum(lo, edges), 0.0, None)
    return torch.from_numpy((overlap / scale).astype(np.float32)).to(device)


def _halve(x: Tensor) -> Tensor:
    """Area-halved, rounding up (:func:`.classical.halve`)."""
    h, w = x.shape[1:]
    return torch.einsum("ih,chw,jw->cij", _area(h, x.device), x, _area(w, x.device))


def _blur_wide(x: Tensor, halved: Tensor, sigma: float) -> Tensor:
    """:func:`blur` of ``x``, at half resolution (``halved``, its :func:`_halve`) for wide
    kernels (as :func:`.classical._blur_halved`: blur by σ / 2, upsample bilinearly)."""
    if sigma < classical._COARSE_SIGMA:
        return blur(x, sigma)
    small = blur(halved, sigma / 2.0)
    return F.interpolate(small[None], size=x.shape[1:], mode="bilinear", align_corners=False)[0]


def _cross(mask: Tensor, iterations: int, erode: bool) -> Tensor:
    """Binary erosion (``erode``) or dilation with the 3×3 cross, the outside counting as 0:
    :func:`.classical._erode` / :func:`.classical._dilate`."""
    out = mask
    for _ in range(iterations):
        p = F.pad(out[None, None].to(torch.uint8), (1, 1, 1, 1))[0, 0].bool()
        parts = (p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:])
        out = parts[0]
        for part in parts[1:]:
            out = out & part if erode else out | part
    return out


def _variance(clean: Tensor, model: NoiseModel) -> Tensor:
    """The noise variance of each channel of ``clean`` (3×H×W) under ``model``."""
    v = [torch.as_tensor(np.asarray(x, np.float32), device=clean.device) for x in
         (model.read_var, model.shot_var, model.gain_var)]  # fmt: skip
    read, shot, gain = (t.view(3, 1, 1) for t in v)
    return read + shot * clean.clamp(min=0) + gain * clean * clean


def _noise_distance(plate: Tensor, clean: Tensor, model: NoiseModel, r: int) -> Tensor:
    """:func:`.classical._noise_distance` over the whole frame: the noise distance of ``plate``
    from ``clean`` (3×H×W), minimised over the clean plate's shifts of up to ``r`` px
    (edge-replicated)."""
    h, w = plate.shape[1:]
    padded = F.pad(clean[None], (r, r, r, r), mode="replicate")[0] if r else clean
    var = _variance(padded, model)
    best: Tensor | None = None
    for dy, dx in itertools.product(range(-r, r + 1), repeat=2):
        y0, x0 = r - dy, r - dx  # the clean plate moved by (dy, dx)
        d = plate - padded[:, y0 : y0 + h, x0 : x0 + w]
        total = (d * d / var[:, y0 : y0 + h, x0 : x0 + w]).sum(0)
        best = total if best is None else torch.minimum(best, total)
    assert best is not None
    return best.sqrt()


def smoothstep(x: Tensor, lo: float, hi: float) -> Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _key(pb: Tensor, cb: Tensor, model: NoiseModel, params: Mapping[str, Any]) -> Tensor:
    """:func:`.classical._shift_tolerant_key` over the whole frame."""
    lo = float(params["threshold"])
    hi = lo + float(params["softness"])
    r = int(params["shift_tolerance"])
    z = _noise_distance(pb, cb, model, r)
    key = smoothstep(z, lo, hi)
    solid = _cross(_cross(key > 0.5, 1, True), 1, False)  # the opening
    return key * _cross(solid, 2, False)


def _fill(colours: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`.classical._fill_from` over the whole frame: ``colours`` (3×H×W) extrapolated
    from ``mask`` by the finest normalised convolution that has support, and that support."""
    m = mask.float()[None]
    weighted = colours * m
    halved_m, halved_c = _halve(m), _halve(weighted)
    filled = torch.zeros_like(colours)
    support = torch.zeros_like(m[0])
    done = torch.zeros_like(mask)
    for sigma in (1.5, 3.0, 6.0, 12.0):
        wgt = _blur_wide(m, halved_m, sigma)[0]
        ok = (wgt > 0.05) & ~done
        num = _blur_wide(weighted, halved_c, sigma)
        filled = torch.where(ok, num / wgt.clamp(min=1e-12), filled)
        support = torch.where(ok, (wgt / 0.2).clamp(max=1.0), support)
        done |= ok
    return filled, support


def _fit(pb: Tensor, cb: Tensor, threshold: float) -> NoiseModel:
    """The noise model from the fixed budget of samples, brought to the CPU and fitted there
    by :func:`.classical.fit_on_samples`."""
    at = torch.from_numpy(samples(pb.shape[1] * pb.shape[2])).to(pb.device)
    c = cb.reshape(3, -1)[:, at].T.cpu().numpy()
    return classical.fit_on_samples(pb.reshape(3, -1)[:, at].T.cpu().numpy() - c, c, threshold)


def run(plate: Tensor, clean: Tensor, params: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """Alpha and error (H×W) of the classical matte of ``plate`` against ``clean`` (H×W×3
    float32 tensors, scene-linear, the clean plate already exposure-matched), on their
    device."""
    p, c = plate.permute(2, 0, 1).float(), clean.permute(2, 0, 1).float()
    pb, cb = blur(p, classical._PRE_BLUR), blur(c, classical._PRE_BLUR)
    model = _fit(pb, cb, float(params["threshold"]))
    key = _key(pb, cb, model, params)
    del pb, cb
    core = _cross(key > 0.99, classical._CORE_ERODE, True)
    band = _cross(core, classical._BAND, False) & ~core & (key > 0.0)
    fg, support = _fill(p, core)
    sep = _noise_distance(fg, c, model, 0)  # of fg - clean, in noise sigmas of the clean plate
    t_lo = float(params["threshold"])
    trust = smoothstep(sep, 2.0 * t_lo, 4.0 * t_lo) * support
    fb = fg - c
    projected = ((p - c) * fb).sum(0) / (fb * fb).sum(0).clamp(min=1e-8)
    projected = projected.clamp(0.0, 1.0)
    alpha = torch.where(band, trust * projected + (1.0 - trust) * key, key)
    error = torch.where(band, 1.0 - trust, torch.zeros_like(key))
    error = torch.maximum(error, 1.0 - (2.0 * key - 1.0).abs())
    alpha = alpha.clamp(0.0, 1.0)
    alpha = torch.where(alpha < ALPHA_SNAP, 0.0, torch.where(alpha > 1.0 - ALPHA_SNAP, 1.0, alpha))
    return alpha, error.clamp(0.0, 1.0)
