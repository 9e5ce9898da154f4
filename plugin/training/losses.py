"""Training losses of the photo model, as BGMv2 (Lin et al. 2021, §3.3) defines them.

- alpha: L1 + L1 of Sobel gradients, on the refined (full-resolution) and the coarse alpha;
- foreground: L1 where the true alpha > 0, in network space (the transfer of
  :mod:`bgmatte.plugin.model.encoding`, so errors in highlights are weighted like errors in
  shadows instead of dominating);
- error map: MSE between the predicted error and the true coarse alpha error, so the refiner
  is sent where the base network is wrong;
- optional (``unknown_weight``): the alpha terms again over the unknown band only, as Deep
  Image Matting (Xu et al., CVPR 2017) restricts its alpha loss to the trimap's unknown
  region. Averaged over the whole image, a one-pixel strand or the soft falloff of fur
  weighs next to nothing against the solid subject and the background; averaged over the
  band, it is what the term is about.

Data-parallel training (:mod:`.distributed`) averages the processes' gradients. The mean
terms (L1, MSE) are then the whole batch's, as every process holds an equal slice; the terms
divided by a count of the whole batch (the foreground's pixels, the band's) are not, so with
``shards`` each process divides its own sum by the count over all processes and scales it by
their number: the average of those is the whole batch's term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from bgmatte.plugin.training.distributed import Shards

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def sobel(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) → (B, 2, H, W): horizontal and vertical Sobel responses."""
    k = _SOBEL.to(x.device, x.dtype)
    kernel = torch.stack([k, k.t()])[:, None]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)


def alpha_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """L1 + gradient L1."""
    return F.l1_loss(pred, true) + F.l1_loss(sobel(pred), sobel(true))


def foreground_loss(
    pred: torch.Tensor, true: torch.Tensor, alpha: torch.Tensor, shards: Shards | None = None
) -> torch.Tensor:
    """L1 over pixels where the true alpha is above zero (``shards``: this process's part of
    the whole batch's term, see the module docstring)."""
    mask = (alpha > 0).to(pred.dtype)
    if shards is None:
        return (torch.abs(pred - true) * mask).sum() / (mask.sum() * 3 + 1.0)
    whole = shards.total(mask.sum())
    return shards.world * (torch.abs(pred - true) * mask).sum() / (whole * 3 + 1.0)


def unknown_band(alpha: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """(B, 1, H, W) true alpha → 0/1 mask of the pixels within ``radius`` of a pixel with
    0 < alpha < 1 (the trimap's unknown region, widened so edges on either side count)."""
    soft = ((alpha > 0.01) & (alpha < 0.99)).to(alpha.dtype)
    return F.max_pool2d(soft, 2 * radius + 1, stride=1, padding=radius)


def band_alpha_loss(
    pred: torch.Tensor, true: torch.Tensor, band: torch.Tensor, shards: Shards | None = None
) -> torch.Tensor:
    """L1 + gradient L1 averaged over the band's pixels (0 when the batch has none;
    ``shards``: this process's part of the whole batch's term, see the module docstring)."""
    grad = torch.abs(sobel(pred) - sobel(true)).sum(1, keepdim=True)
    if shards is None:
        count = band.sum() + 1.0
        return ((torch.abs(pred - true) + grad) * band).sum() / count
    whole = shards.total(band.sum()) + 1.0
    return shards.world * ((torch.abs(pred - true) + grad) * band).sum() / whole


def matting_losses(out: tuple[torch.Tensor | None, ...], alpha: torch.Tensor,
                   foreground_encoded: torch.Tensor, unknown_weight: float = 0.0,
                   shards: Shards | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """All terms for one batch. ``out`` is MattingNetwork.forward's tuple;
    ``unknown_weight`` > 0 adds ``alpha_unknown``; ``shards``: the batch is one process's
    slice of a data-parallel batch (see the module docstring)."""
    pha, fgr, pha_sm, fgr_sm, err_sm, _ = out
    assert pha is not None and fgr is not None and pha_sm is not None
    assert fgr_sm is not None and err_sm is not None
    size = pha_sm.shape[2:]
    alpha_sm = F.interpolate(alpha, size, mode="area")
    fg_sm = F.interpolate(foreground_encoded, size, mode="area")
    terms = {
        "alpha": alpha_loss(pha, alpha),
        "alpha_coarse": alpha_loss(pha_sm, alpha_sm),
        "foreground": foreground_loss(fgr, foreground_encoded, alpha, shards),
        "foreground_coarse": foreground_loss(fgr_sm, fg_sm, alpha_sm, shards),
        "error": F.mse_loss(err_sm, torch.abs(pha_sm.detach() - alpha_sm)),
    }
    if unknown_weight > 0:
        band = unknown_band(alpha)
        terms["alpha_unknown"] = unknown_weight * band_alpha_loss(pha, alpha, band, shards)
    terms["total"] = sum(terms.values(), torch.zeros((), device=alpha.device))
    return terms
