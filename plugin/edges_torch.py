"""The edge passes (:mod:`bgmatte.plugin.edges`) as torch operations over the whole frame, for
a frame on a GPU: the same alternation (F as the window's least-squares colour given alpha,
alpha as the projection of P - B onto F - B, trusted by F - B's distance in noise sigmas) and
the same constants, so the passes run where the network ran instead of in OpenCV on the CPU
(issue 15, "one device end to end").

On the CPU the strips of :mod:`.edges` skip the frame outside the band; on a GPU a pass over
the whole frame costs less than finding the band. Blurs are sums of shifted copies in float32
(:func:`.classical_torch.separable`), not convolutions, which a GPU may run in TF32. The noise
sigmas come from the same fixed budget of samples as :func:`.edges.noise_sigma`, reduced on
the device. Tested on the CPU against :mod:`.edges`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from bgmatte.plugin import uploads
from bgmatte.plugin.edges import MIN_WEIGHT, NOISE_SAMPLES, SIGMA, TRUST
from bgmatte.plugin.engines.classical_torch import separable, smoothstep
from bgmatte.plugin.noise import MAD_TO_SIGMA, samples

Tensor = torch.Tensor


def noise_sigma(d: Tensor, alpha: Tensor) -> Tensor:
    """:func:`.edges.noise_sigma` of ``d`` = plate - clean plate (3×H×W), per channel (3)."""
    at = torch.from_numpy(samples(alpha.numel(), NOISE_SAMPLES)).to(d.device)
    x = d.reshape(3, -1)[:, at]
    background = alpha.reshape(-1)[at] == 0.0
    if int(background.sum()) >= 200:
        x = x[:, background]
    centre = torch.quantile(x, 0.5, dim=1, keepdim=True)  # as np.median: the middle two's mean
    return MAD_TO_SIGMA * torch.quantile((x - centre).abs(), 0.5, dim=1) + 1e-6


def solve_edges(plate: Tensor, clean_plate: Tensor, alpha: Tensor, passes: int) -> Tensor:
    """``alpha`` (H×W float32) with its fractional pixels solved again ``passes`` times;
    ``plate`` and ``clean_plate`` H×W×3, all on one device (:func:`.edges.solve_edges`)."""
    soft = (alpha > 0.0) & (alpha < 1.0)
    if passes <= 0 or not bool(soft.any()):
        return alpha
    k = 2 * math.ceil(4.0 * SIGMA) + 1
    g = cv2.getGaussianKernel(k, SIGMA, cv2.CV_32F)[:, 0]
    taps, taps2 = g.tolist(), (g * g).astype(np.float32).tolist()
    b = clean_plate.permute(2, 0, 1).float()
    d = plate.permute(2, 0, 1).float() - b
    noise = noise_sigma(d, alpha).view(3, 1, 1)
    a = alpha
    for _ in range(passes):
        terms = torch.cat([a * (d + a * b), (a * a)[None]])
        sums = separable(terms, taps)
        den = sums[3]
        den2 = separable(terms[3:], taps2)[0]
        f_b = sums[:3] / den.clamp(min=MIN_WEIGHT) - b
        projected = ((d * f_b).sum(0) / (f_b * f_b).sum(0).clamp(min=1e-12)).clamp(0.0, 1.0)
        sep = (f_b / noise).square().sum(0).sqrt()
        sep = sep * (den / den2.clamp(min=1e-12).sqrt()).clamp(max=1.0)
        trust = smoothstep(sep, *TRUST) * (den > MIN_WEIGHT)
        a = torch.where(soft, trust * projected + (1.0 - trust) * alpha, alpha)
    return a


def solve_edges_on(
    device: torch.device, plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray, passes: int
) -> np.ndarray:
    """:func:`solve_edges` of host frames on ``device``: up, solved, and the alpha back down
    (H×W float32), the same as :func:`.edges.solve_edges` gives within float rounding."""
    if passes <= 0:
        return alpha
    p, c, a = (uploads.to_device(f, device) for f in (plate, clean_plate, alpha))
    with torch.inference_mode():
        out = solve_edges(p, c, a, passes)
    return np.ascontiguousarray(out.cpu().numpy(), np.float32)
