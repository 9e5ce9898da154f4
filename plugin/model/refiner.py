"""The refiner (BGMv2 §3.2): re-predicts alpha and foreground at full resolution, only on the
4×4 patches where the base network's error map is highest.

Modes: ``full`` (everywhere, plain convolutions), ``sampling`` (the ``sample_pixels`` pixels
with the largest error, as 4×4 patches), ``thresholding`` (patches whose error exceeds
``threshold``). Each patch sees the base network's hidden features, alpha and foreground
upsampled to half resolution with 3 px of context, then the full-resolution plate and clean
plate with 2 px of context. Parameter names follow BGMv2 (``conv1``..``conv4``, ``bn1``..).

Unlike the reference code, nothing is computed over the whole frame at full or half
resolution: the half-resolution inputs of each patch are cut from the full-resolution frame
(a 2× bilinear downscale is a 2×2 box average) and from the base resolution (upsampled per
patch), which gives the same numbers at a fraction of the memory traffic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("full", "sampling", "thresholding")
Encode = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _windows(
    x: torch.Tensor, b: torch.Tensor, y0: torch.Tensor, x0: torch.Tensor, size: int
) -> torch.Tensor:
    """(B, C, H, W), P origins → (P, C, size, size) windows, zero outside ``x``.

    One ``index_select`` over channels-last rows: each gathered row is the C values of one
    pixel, contiguous, which is several times faster on a CPU than 2-D advanced indexing,
    and no padded copy of the frame is made.
    """
    _, c, h, w = x.shape
    ar = torch.arange(size, device=x.device)
    ys, xs = y0[:, None] + ar, x0[:, None] + ar  # (P, size)
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    lin = b[:, None, None] * (h * w) + ys.clamp(0, h - 1)[:, :, None] * w
    lin = lin + xs.clamp(0, w - 1)[:, None, :]
    rows = x.permute(0, 2, 3, 1).reshape(-1, c)
    out = rows.index_select(0, lin.reshape(-1)).view(len(b), size, size, c)
    out = out * inside[..., None].to(out.dtype)
    return out.permute(0, 3, 1, 2)


def crop_full(x: torch.Tensor, idx: tuple[torch.Tensor, ...], pad: int) -> torch.Tensor:
    """Full-resolution (B, C, H, W) → (P, C, 4+2·pad, 4+2·pad) around the 4×4 cells idx, zero
    outside the frame."""
    return _windows(x, idx[0], 4 * idx[1] - pad, 4 * idx[2] - pad, 4 + 2 * pad)


def crop_upsampled(
    x: torch.Tensor, idx: tuple[torch.Tensor, ...], factor: int, half: tuple[int, int]
) -> torch.Tensor:
    """The 8×8 half-resolution windows (2×2 cells + 3 px, zero outside the frame) of
    ``interpolate(x, half, bilinear)`` for base-resolution ``x`` and an integer ``factor`` =
    half / base, computed on small crops only."""
    m = 4
    xp = F.pad(x, (m,) * 4, mode="replicate")  # bilinear clamps at the border: replicate
    p_y, p_x = 2 * idx[1] - 3, 2 * idx[2] - 3  # half-resolution window origins
    o_y = torch.div(p_y, factor, rounding_mode="floor") - 1
    o_x = torch.div(p_x, factor, rounding_mode="floor") - 1
    n = 8 // factor + 3
    small = _windows(xp, idx[0], o_y + m, o_x + m, n)
    up = F.interpolate(small, scale_factor=factor, mode="bilinear", align_corners=False)
    d_y, d_x = p_y - o_y * factor, p_x - o_x * factor
    out = _windows(up, torch.arange(len(up), device=x.device), d_y, d_x, 8)
    ar = torch.arange(8, device=x.device)
    inside_y = ((p_y[:, None] + ar) >= 0) & ((p_y[:, None] + ar) < half[0])
    inside_x = ((p_x[:, None] + ar) >= 0) & ((p_x[:, None] + ar) < half[1])
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).to(out.dtype)
    return out * mask[:, None]


def replace_cells(x: torch.Tensor, y: torch.Tensor, idx: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Write the (P, C, 4, 4) patches ``y`` into (B, C, H, W) ``x`` at the 4×4 cells idx."""
    n, c, h, w = x.shape
    x = x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 1, 3, 5).clone()
    x[idx[0], idx[1], idx[2]] = y
    return x.permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


class Refiner(nn.Module):
    """src, bgr (B, 3, H, W) full resolution; pha, fgr, err, hid at base resolution →
    pha (B, 1, H, W), fgr residual (B, 3, H, W) or None, ref (B, 1, H/4, W/4)."""

    def __init__(
        self,
        mode: str = "sampling",
        sample_pixels: int = 80_000,
        threshold: float = 0.1,
        hidden: int = 32,
    ) -> None:
        super().__init__()
        self.mode, self.sample_pixels, self.threshold = mode, sample_pixels, threshold
        self.conv1 = nn.Conv2d(hidden + 4 + 6, 24, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.conv2 = nn.Conv2d(24, 16, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16 + 6, 12, 3, bias=False)
        self.bn3 = nn.BatchNorm2d(12)
        self.conv4 = nn.Conv2d(12, 4, 3)
        self.relu = nn.ReLU(inplace=True)

    def select(self, err: torch.Tensor) -> torch.Tensor:
        """err (B, 1, H/4, W/4) → ref (B, 1, H/4, W/4) in {0, 1}."""
        if self.mode == "sampling":
            b, _, h, w = err.shape
            flat = err.reshape(b, -1)
            k = min(self.sample_pixels // 16, flat.shape[1])
            ref = torch.zeros_like(flat)
            ref.scatter_(1, flat.topk(k, dim=1, sorted=False).indices, 1.0)
            return (ref * (flat > 0).to(ref.dtype)).view(b, 1, h, w)
        return (err > self.threshold).to(err.dtype)

    def _convs(
        self, x: torch.Tensor, y_half: torch.Tensor, y_full: torch.Tensor, size: tuple[int, int]
    ) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(torch.cat([x, y_half], dim=1))))
        x = self.relu(self.bn2(self.conv2(x)))
        x = F.interpolate(x, size, mode="nearest")
        x = self.relu(self.bn3(self.conv3(torch.cat([x, y_full], dim=1))))
        return self.conv4(x)

    def forward(
        self,
        src: torch.Tensor,
        bgr: torch.Tensor,
        pha: torch.Tensor,
        fgr: torch.Tensor,
        err: torch.Tensor,
        hid: torch.Tensor,
        encode: Encode = _identity,
        alpha_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``encode`` maps full-resolution src/bgr into network space (applied to the crops)."""
        h, w = src.shape[2:]
        half, quarter = (h // 2, w // 2), (h // 4, w // 4)
        coarse = torch.cat([hid, pha, fgr], dim=1)
        if self.mode == "full":
            guide = torch.cat([encode(src), encode(bgr)], dim=1)
            x = F.pad(F.interpolate(coarse, half, mode="bilinear", align_corners=False), (3,) * 4)
            y = F.pad(F.interpolate(guide, half, mode="bilinear", align_corners=False), (3,) * 4)
            out = self._convs(x, y, F.pad(guide, (2,) * 4), (h + 4, w + 4))
            ref = torch.ones((src.shape[0], 1, *quarter), dtype=src.dtype, device=src.device)
            return out[:, :1], None if alpha_only else out[:, 1:], ref
        ref = self.select(F.interpolate(err, quarter, mode="bilinear", align_corners=False))
        idx = tuple(torch.nonzero(ref[:, 0]).unbind(1))
        base = pha if alpha_only else torch.cat([pha, fgr], 1)
        out = F.interpolate(base, (h, w), mode="bilinear", align_corners=False)
        if idx[0].numel() > 0:
            factor = half[0] // pha.shape[2]
            x = crop_upsampled(coarse, idx, factor, half)
            # 16×16 linear crops (zero outside the frame, as the reference pads); the
            # half-resolution guide is their 2×2 average (= a 2× bilinear downscale), taken
            # in linear light before the transfer, as the base network's downscale is.
            crops = [crop_full(img, idx, 6) for img in (src, bgr)]  # (P, 3, 16, 16) each
            y_half = torch.cat([encode(F.avg_pool2d(c, 2)) for c in crops], dim=1)
            y_full = torch.cat([encode(c[:, :, 4:12, 4:12]) for c in crops], dim=1)
            x = self._convs(x, y_half, y_full, (8, 8))
            out = replace_cells(out, x[:, : out.shape[1]].to(out.dtype), idx)
        return out[:, :1], None if alpha_only else out[:, 1:], ref
