"""The foreground pass: the subject's true colour in linear light, from plate, clean plate, alpha.

The exact unmix F = (P - (1 - a) * B) / a (Smith & Blinn 1996) reproduces the plate, but it
divides by alpha: where alpha is small, any error in the clean plate or in alpha is multiplied
by 1 / a. Over a bright HDR background that is ruinous: fur (F = 0.5) over a sky at 20.0,
keyed at a = 0.03 where the truth is 0.7, unmixes to F ≈ -435, and a composite over a new
background shows black holes. The ``regularised`` mode (the default) solves the matting
equation as a least-squares fit with a Gaussian prior on F instead (the MAP view of
foreground estimation, Levin et al. 2008; Forte & Pitié 2021 fill the prior by blurring, as
here):

- the error of P - (1 - a) * B has a standard deviation
  ``sigma_r = FLOOR + RELATIVE * (1 - a) * |B|``: a floor for noise and alpha error, plus a
  part that grows with the background behind the pixel (exposure-match residual, alpha error
  over a bright background);
- the prior F_prior is the foreground colour filled in from the pixels around, each weighted
  by how well it pins F down (a² / sigma_r²), by a pull-push pyramid: it is defined
  everywhere, also where alpha is 0;
- the prior's spread is SPREAD, and its weight ``(1 - a) * (sigma_r / SPREAD)²`` falls to 0
  at a = 1, so solid cores are exactly the plate and HDR highlights survive.

Where alpha is well determined the result is the exact unmix within the noise; where it is not,
it is the subject's colour nearby. The three constants are round values picked from a
coarse grid on the dev cases; the README gives the foreground and composite errors against
the exact unmix.
``exact`` keeps the plain unmix for pipelines that need alpha * F + (1 - alpha) * B = P to
the bit wherever alpha > 0.
"""

from __future__ import annotations

import cv2
import numpy as np

from bgmatte.plugin.bands import CHUNK, in_bands

FLOOR = 0.02  # linear-light error floor of P - (1 - a) B (noise, alpha error)
RELATIVE = 0.05  # its part relative to the clean plate behind the pixel
SPREAD = 0.1  # how far the foreground may stray from the colour filled in around it


def residual_sigma(clean_plate: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """sigma_r, the standard deviation of the error of P - (1 - a) * B (H×W)."""
    level = np.abs(clean_plate) @ np.full(3, 1 / 3, np.float32)  # a mean over the short axis
    return (np.float32(FLOOR) + np.float32(RELATIVE) * (1.0 - alpha) * level).astype(
        np.float32, copy=False
    )


def fill(premultiplied: np.ndarray, alpha: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The foreground colour filled in from around each pixel (H×W×3), by pull-push;
    ``premultiplied`` (float32 H×W×3) is overwritten.

    Pull: a Gaussian pyramid of the weighted data a * r / sigma² and of the weights
    a² / sigma² (r = P - (1 - a) B = a F), down to 8 px. Push: from the weighted mean of the
    whole frame, each level's colour is its own data combined with the level above as a prior
    of weight 1 / SPREAD², the same MAP step as the final solve. Stops one level above the
    finest, upsampled, so a pixel's own data enters only once, in
    :func:`bgmatte.kernels.regularised_unmix`.
    """
    # The finest level's data is written over ``premultiplied`` (float32, consumed): one
    # frame-sized buffer fewer at the unmix's peak.
    nums: list[np.ndarray] = [premultiplied]
    dens: list[np.ndarray] = [np.empty(alpha.shape, np.float32)]

    def rows(band: slice) -> None:  # per pixel: in row bands, on every thread
        inv = (1.0 / (sigma[band] * sigma[band])).astype(np.float32, copy=False)
        premultiplied[band] *= (alpha[band] * inv)[..., None]
        dens[0][band] = alpha[band] * alpha[band] * inv

    in_bands(rows, alpha.shape[0])
    while min(dens[-1].shape) > 8:
        nums.append(cv2.pyrDown(nums[-1]))
        dens.append(cv2.pyrDown(dens[-1]))
    total = float(dens[-1].sum())
    mean = nums[-1].sum(axis=(0, 1)) / total if total > 0 else np.zeros(3)
    colour = np.asarray(mean, np.float32).reshape(1, 1, 3)
    h, w = alpha.shape
    del nums[0], dens[0]  # the push stops a level above the finest: its weights may go
    lam = np.float32(1.0 / SPREAD**2)
    for num, den in zip(nums[::-1], dens[::-1], strict=True):
        up = cv2.resize(colour, (den.shape[1], den.shape[0]), interpolation=cv2.INTER_LINEAR)
        colour = (num + lam * up) / (den + lam)[..., None]
    # Upsampled into the finest level's buffer, which the pyramid no longer needs: one frame
    # fewer at the unmix's peak.
    small = colour.reshape(colour.shape[0], colour.shape[1], 3)
    return cv2.resize(small, (w, h), dst=premultiplied, interpolation=cv2.INTER_LINEAR)


def prior_and_weight(
    plate: np.ndarray, clean_plate: np.ndarray, alpha: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """F_prior (H×W×3) and its weight (H×W) for :func:`bgmatte.kernels.regularised_unmix`.
    On the CPU for either device: the pyramid is cheap next to the network."""
    a = np.asarray(alpha, np.float32)
    sigma = np.empty(a.shape, np.float32)
    premultiplied = np.empty(plate.shape, np.float32)
    weight = np.empty(a.shape, np.float32)

    def rows(b: slice) -> None:  # per pixel: in row bands, on every thread
        sigma[b] = residual_sigma(clean_plate[b], a[b])
        np.multiply(1.0 - a[b][..., None], clean_plate[b], out=premultiplied[b])
        np.subtract(plate[b], premultiplied[b], out=premultiplied[b])
        weight[b] = (1.0 - a[b]) * (sigma[b] / np.float32(SPREAD)) ** 2

    in_bands(rows, a.shape[0], CHUNK)  # a chunk's temporaries at a time, not a band's
    return fill(premultiplied, a, sigma), weight
