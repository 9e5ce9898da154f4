"""The refiner (BGMv2 §3.2): re-predicts alpha and foreground at full resolution, only on the
4×4 patches where the base network's error map is highest.

Modes: ``full`` (everywhere, plain convolutions), ``sampling`` (the ``sample_pixels`` pixels
with the largest error, as 4×4 patches), ``thresholding`` (patches whose error exceeds
``threshold``). Each patch sees the base network's hidden features, alpha and foreground
upsampled to half resolution with 3 px of context, then the full-resolution plate and clean
plate with 2 px of context. Parameter names follow BGMv2 (``conv1``..``conv4``, ``bn1``..).

With ``prior`` (our models), the soft segmentation prior is a further input of both crops,
at half and at full resolution, so fine holes and strands the prior resolves are not lost to
the base network's low resolution; BGMv2's refiner has no such input.

Patches are cut with one gather per input (:func:`_windows`) rather than the reference's
pad + unfold, and only the selected cells are written back. The half-resolution inputs are
resized over the whole frame first, as in the reference, and then cut: resizing each patch
on its own is cheaper but not bit-identical, because PyTorch's CPU bilinear kernel picks
its arithmetic (a 4-term sum or two nested 2-term sums) from the whole tensor's size and
layout, and the refiner's convolutions amplify those 1-ulp differences in alpha.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("full", "sampling", "thresholding")
# The engine's floor on a sampled patch's error: the base network predicts |alpha error|, so
# below this a patch has little left to gain (chosen on the dev and validation cases; the
# README has the figures).
MIN_ERROR = 0.02
# Inference: a tile of TILE×TILE cells with at least TILE_MIN selected cells is refined as one
# window (see :meth:`Refiner._fast`); about where a whole tile costs as much as its patches.
TILE = 4
TILE_MIN = 6
# windows the inference refiner convolves at a time: its activations are held per chunk
WINDOW_CHUNK = 128
Encode = Callable[[torch.Tensor], torch.Tensor]


def detail_hint(alpha: torch.Tensor, scale: float) -> torch.Tensor:
    """(B, 1, H, W) alpha → (B, 1, H, W): how far it is from its own image on the base
    network's grid (area-downscaled by ``scale``, upsampled bilinearly), i.e. the detail only
    the refiner can restore: thin strands, wires, fine holes. Training takes it of the true
    alpha, inference of the soft segmentation prior (``refine_detail``)."""
    k = round(1 / scale)
    coarse = F.interpolate(F.avg_pool2d(alpha, k), alpha.shape[2:], mode="bilinear")
    return (alpha - coarse).abs()


def adjacent(frames: list[torch.Tensor]) -> bool:
    """Whether the (B, C, H, W) frames are adjacent channel views of one tensor, in order (as
    the network engine hands them in)."""
    first = frames[0]
    offset = first.storage_offset()
    for f in frames:
        if not (
            f.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
            and f.stride() == first.stride()
            and f.shape[0] == first.shape[0]
            and f.shape[2:] == first.shape[2:]
            and f.storage_offset() == offset
        ):
            return False
        offset += f.shape[1] * f.stride(1)
    return True


def joined(frames: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(frames, dim=1)``: without a copy where the frames are :func:`adjacent`,
    else the concatenation."""
    if not adjacent(frames):
        return torch.cat(frames, dim=1)
    first = frames[0]
    size = (first.shape[0], sum(f.shape[1] for f in frames), *first.shape[2:])
    return first.as_strided(size, first.stride(), first.storage_offset())


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _windows(
    x: torch.Tensor,
    b: torch.Tensor,
    y0: torch.Tensor,
    x0: torch.Tensor,
    size: int,
    channels_last: bool = False,
) -> torch.Tensor:
    """(B, C, H, W), P origins → (P, C, size, size) windows, zero outside ``x``; in
    channels-last memory with ``channels_last`` (as gathered: no copy), else contiguous.

    One ``index_select`` over channels-last rows: each gathered row is the C values of one
    pixel, contiguous, so the gather copies whole rows where 2-D advanced indexing would
    gather element by element; and no padded copy of the frame is made.
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
    if channels_last:
        return out.permute(0, 3, 1, 2)
    # NCHW like the reference's crops: convolutions pick their kernel (and so their
    # summation order) by memory layout.
    return out.permute(0, 3, 1, 2).contiguous()


def crop_full(
    x: torch.Tensor, idx: tuple[torch.Tensor, ...], pad: int, channels_last: bool = False
) -> torch.Tensor:
    """Full-resolution (B, C, H, W) → (P, C, 4+2·pad, 4+2·pad) around the 4×4 cells idx, zero
    outside the frame."""
    return _windows(x, idx[0], 4 * idx[1] - pad, 4 * idx[2] - pad, 4 + 2 * pad, channels_last)


def crop_upsampled(x: torch.Tensor, idx: tuple[torch.Tensor, ...],
                   half: tuple[int, int]) -> torch.Tensor:  # fmt: skip
    """(B, C, h, w) at any resolution → the (P, C, 8, 8) half-resolution windows (2×2 cells
    + 3 px, zero outside the frame) of ``interpolate(x, half, bilinear)``: BGMv2's crops of
    the upsampled coarse outputs and of the downscaled plates, to the bit."""
    y = F.interpolate(x, half, mode="bilinear", align_corners=False)
    return _windows(y, idx[0], 2 * idx[1] - 3, 2 * idx[2] - 3, 8)


def _taps(offsets: torch.Tensor, factor: int, n: int, size: int) -> tuple[torch.Tensor, ...]:
    """(P,) offsets → the two source samples (P, size) and the second one's weight (P, size)
    of rows ``offsets + 0..size-1`` of a ×``factor`` bilinear upsample (align_corners=False)
    of ``n`` samples."""
    k = torch.arange(size, device=offsets.device, dtype=torch.float64)
    src = ((offsets[:, None].to(torch.float64) + k + 0.5) / factor - 0.5).clamp(min=0.0)
    i0 = src.floor().long().clamp(max=n - 1)
    return i0, (i0 + 1).clamp(max=n - 1), (src - i0)


def crop_upsampled_fast(
    x: torch.Tensor,
    idx: tuple[torch.Tensor, ...],
    factor: int,
    half: tuple[int, int],
    size: int = 8,
) -> torch.Tensor:
    """:func:`crop_upsampled` for an integer ``factor`` = half / base, computed on small
    crops only (two-tap bilinear sums gathered per window; no frame-sized upsample). Equal
    up to float rounding. ``size``: the windows' side (8: one cell; 2·cells + 6 for a
    square of cells)."""
    m = 4
    xp = F.pad(x, (m,) * 4, mode="replicate")  # bilinear clamps at the border: replicate
    p_y, p_x = 2 * idx[1] - 3, 2 * idx[2] - 3  # half-resolution window origins
    o_y = torch.div(p_y, factor, rounding_mode="floor") - 1
    o_x = torch.div(p_x, factor, rounding_mode="floor") - 1
    n = size // factor + 4  # the source samples the window's taps reach, and a spare
    small = _windows(xp, idx[0], o_y + m, o_x + m, n)  # (P, C, n, n)
    p, c = small.shape[:2]
    y0, y1, wy = _taps(p_y - o_y * factor, factor, n, size)
    x0, x1, wx = _taps(p_x - o_x * factor, factor, n, size)
    wy, wx = wy.to(x.dtype)[:, None, :, None], wx.to(x.dtype)[:, None, None, :]

    def rows(i: torch.Tensor) -> torch.Tensor:
        return small.gather(2, i[:, None, :, None].expand(p, c, size, n))

    tall = rows(y0) * (1 - wy) + rows(y1) * wy  # (P, C, size, n)

    def cols(i: torch.Tensor) -> torch.Tensor:
        return tall.gather(3, i[:, None, None, :].expand(p, c, size, size))

    out = cols(x0) * (1 - wx) + cols(x1) * wx
    ar = torch.arange(size, device=x.device)
    inside_y = ((p_y[:, None] + ar) >= 0) & ((p_y[:, None] + ar) < half[0])
    inside_x = ((p_x[:, None] + ar) >= 0) & ((p_x[:, None] + ar) < half[1])
    return out * (inside_y[:, :, None] & inside_x[:, None, :]).to(out.dtype)[:, None]


def _tiles(
    idx: tuple[torch.Tensor, ...], t: int, grid: tuple[int, int, int]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
    """The selected cells ``idx`` (b, cy, cx) of a (B, H/4, W/4) ``grid`` grouped in tiles of
    ``t``×``t`` cells: (which cells lie in a tile holding at least :data:`TILE_MIN` of them,
    those tiles as (b, ty, tx), and each such cell's tile's position in that list). No tiles
    for ``t`` < 2."""
    b, cy, cx = idx
    none = torch.zeros(0, dtype=torch.long, device=b.device)
    if t < 2:
        return torch.zeros_like(b, dtype=torch.bool), (none, none, none), none
    nty, ntx = -(-grid[1] // t), -(-grid[2] // t)
    key = (b * nty + cy // t) * ntx + cx // t
    count = torch.bincount(key, minlength=grid[0] * nty * ntx)
    in_tile = count[key] >= TILE_MIN
    dense = torch.nonzero(count >= TILE_MIN)[:, 0]
    lookup = torch.full_like(count, -1)
    lookup[dense] = torch.arange(len(dense), device=b.device)
    tiles = (dense // (nty * ntx), (dense // ntx) % nty, dense % ntx)
    return in_tile, tiles, lookup[key[in_tile]]


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
        exact: bool = True,
        prior: bool = False,
    ) -> None:
        super().__init__()
        self.mode, self.sample_pixels, self.threshold = mode, sample_pixels, threshold
        # sampling: a patch whose error is at most this is not refined, whatever the budget
        # (0: BGMv2's rule, every patch with any error may be; the engine sets MIN_ERROR)
        self.min_error = 0.0
        # exact: BGMv2's crops to the bit (frame-sized resizes); else the per-patch crops,
        # equal to float rounding and cheaper on large frames (no frame-sized resize).
        self.exact = exact
        self.prior = prior
        # Cells per side of the tiles refined whole at inference (0 or 1: single patches only)
        self.tile = TILE
        # Run the convolutions on no patches too (in ``sampling`` and ``thresholding`` modes,
        # where a frame may select none). Data-parallel training sets it: every process must
        # reach the synchronised batch norms' collectives whatever its own batch selects.
        self.run_empty = False
        guide = 7 if prior else 6  # src, bgr (+ prior)
        self.conv1 = nn.Conv2d(hidden + 4 + guide, 24, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.conv2 = nn.Conv2d(24, 16, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16 + guide, 12, 3, bias=False)
        self.bn3 = nn.BatchNorm2d(12)
        self.conv4 = nn.Conv2d(12, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        # Another runtime for :meth:`convs` (onnxruntime, :mod:`.ort`); None = these modules.
        self.runner: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None
        self.runner = None

    def select(self, err: torch.Tensor) -> torch.Tensor:
        """err (B, 1, H/4, W/4) → ref (B, 1, H/4, W/4) in {0, 1}."""
        if self.mode == "sampling":
            b, _, h, w = err.shape
            flat = err.reshape(b, -1)
            k = min(self.sample_pixels // 16, flat.shape[1])
            ref = torch.zeros_like(flat)
            ref.scatter_(1, flat.topk(k, dim=1, sorted=False).indices, 1.0)
            return (ref * (flat > self.min_error).to(ref.dtype)).view(b, 1, h, w)
        return (err > self.threshold).to(err.dtype)

    def convs(self, x: torch.Tensor, y_half: torch.Tensor, y_full: torch.Tensor) -> torch.Tensor:
        """The refiner's convolutions: (P, hidden+4, n+4, n+4) coarse + (P, 6|7, n+4, n+4)
        half-resolution guide, (P, 6|7, 2n+4, 2n+4) full-resolution guide → (P, 4, 2n, 2n).
        The nearest ×2 upsample is BGMv2's resize to the full-resolution crop's size."""
        if self.runner is not None:
            return self.runner(x, y_half, y_full)
        x = self.relu(self.bn1(self.conv1(torch.cat([x, y_half], dim=1))))
        x = self.relu(self.bn2(self.conv2(x)))
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
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
        seg: torch.Tensor | None = None,
        hint: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``encode`` maps full-resolution src/bgr into network space (applied to the crops);
        ``seg`` (B, 1, H, W): the prior in [0, 1] (zeros where absent), used with ``prior``;
        ``hint`` (B, 1, H, W): added to the error map (its maximum over each
        4×4 cell) when patches are selected, so the refiner also trains where the hint says
        (see :func:`detail_hint`)."""
        h, w = src.shape[2:]
        if self.prior and seg is None:
            seg = torch.zeros_like(src[:, :1])

        def guided(y: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
            return y if s is None or not self.prior else torch.cat([y, s], dim=1)

        half, quarter = (h // 2, w // 2), (h // 4, w // 4)
        coarse = torch.cat([hid, pha, fgr], dim=1)
        if self.mode == "full":
            guide = torch.cat([src, bgr], dim=1)  # downscaled before the transfer, as below
            x = F.pad(F.interpolate(coarse, half, mode="bilinear", align_corners=False), (3,) * 4)
            y = encode(F.interpolate(guide, half, mode="bilinear", align_corners=False))
            s_half = None
            if seg is not None:
                s_half = F.interpolate(seg, half, mode="bilinear", align_corners=False)
            y, y_full = guided(y, s_half), guided(encode(guide), seg)
            out = self.convs(x, F.pad(y, (3,) * 4), F.pad(y_full, (2,) * 4))
            ref = torch.ones((src.shape[0], 1, *quarter), dtype=src.dtype, device=src.device)
            return out[:, :1], None if alpha_only else out[:, 1:], ref
        score = F.interpolate(err, quarter, mode="bilinear", align_corners=False)
        if hint is not None:
            score = score + F.max_pool2d(hint, 4)
        ref = self.select(score)
        idx = tuple(torch.nonzero(ref[:, 0]).unbind(1))
        base = pha if alpha_only else torch.cat([pha, fgr], 1)
        out = F.interpolate(base, (h, w), mode="bilinear", align_corners=False)
        if idx[0].numel() > 0 or self.run_empty:
            # The guide is downscaled in linear light before the transfer, as the base
            # network's input is (the transfer maps 0, the padding, to 0).
            factor = half[0] / pha.shape[2]
            if self.exact or factor != int(factor) or half[1] / pha.shape[3] != factor:
                x = crop_upsampled(coarse, idx, half)  # (P, hidden + 4, 8, 8)
                guide = torch.cat([src, bgr], dim=1)
                y_half = encode(crop_upsampled(guide, idx, half))  # (P, 6, 8, 8)
                y_full = encode(crop_full(guide, idx, 2))  # (P, 6, 8, 8)
                if self.prior and seg is not None:
                    y_half = guided(y_half, crop_upsampled(seg, idx, half))
                    y_full = guided(y_full, crop_full(seg, idx, 2))
                x = self.convs(x, y_half, y_full)
            else:
                frames = [src, bgr] + ([seg] if self.prior and seg is not None else [])
                x = self._fast(coarse, joined(frames), idx, int(factor), encode)
            out = replace_cells(out, x[:, : out.shape[1]].to(out.dtype), idx)
        return out[:, :1], None if alpha_only else out[:, 1:], ref

    def _fast(
        self,
        coarse: torch.Tensor,
        guide: torch.Tensor,
        idx: tuple[torch.Tensor, ...],
        factor: int,
        encode: Encode,
    ) -> torch.Tensor:
        """The refined (P, 4, 4, 4) patches at the cells ``idx``, with per-window crops.

        At inference, where the selected cells crowd a tile of :data:`TILE`×:data:`TILE`
        cells (at least :data:`TILE_MIN` of them, as along an edge), the whole tile goes
        through the convolutions as one window and its selected cells are cut from the
        result: the convolutions are translation-invariant and unpadded, so a cell's value
        is the same function of the same pixels as in its own patch (to float rounding),
        while the context the patches of a tile share is computed once instead of for each
        (a 4×4-cell tile costs about as much as 6 single patches). In training, batch
        norms take their statistics from the patches themselves, so every patch is single.

        A window of n×n cells whose first cell is (b, cy, cx) takes the coarse outputs and
        the guide at half resolution (2n + 6 px) and the guide at full resolution (4n + 4
        px). All full-resolution inputs are one tensor (``guide``), so each window is one
        gather (the per-row cost dominates). A 2× bilinear downscale is a 2×2 average (H, W
        even), taken once over the frame: the half-resolution windows start on even
        full-resolution rows, so they are the 2×2 averages of the full-resolution windows,
        at a quarter of the gathering.
        """
        b, cy, cx = idx
        half = (guide.shape[2] // 2, guide.shape[3] // 2)
        half_guide = F.avg_pool2d(guide, 2)
        t = self.tile if not self.training else 0
        in_tile, tiles, which = _tiles(
            idx, t, (guide.shape[0], guide.shape[2] // 4, guide.shape[3] // 4)
        )
        single = ~in_tile
        p_single = int(single.sum())
        # Per-window upsampling costs about 4× per pixel what the frame-sized one does: it
        # is used while the windows cover under a quarter of the half-resolution frame.
        area = p_single * 8 * 8 + len(tiles[0]) * (2 * t + 6) ** 2
        coarse_half = None
        if area * 4 >= half[0] * half[1]:
            coarse_half = F.interpolate(coarse, half, mode="bilinear", align_corners=False)

        def refined(wb: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor, n: int) -> torch.Tensor:
            """:func:`refined_chunk` over at most :data:`WINDOW_CHUNK` windows at a time: the
            convolutions' activations are held for a chunk, not for every window at once. At
            inference only: in training the batch norms take their statistics from all the
            patches together."""
            if self.training or wb.numel() <= WINDOW_CHUNK:
                return refined_chunk(wb, wy, wx, n)
            parts = [
                refined_chunk(wb[i : i + WINDOW_CHUNK], wy[i : i + WINDOW_CHUNK],
                              wx[i : i + WINDOW_CHUNK], n)
                for i in range(0, wb.numel(), WINDOW_CHUNK)
            ]  # fmt: skip
            return torch.cat(parts)

        def refined_chunk(
            wb: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor, n: int
        ) -> torch.Tensor:
            """The convolutions over the windows of n×n cells from the cells (wb, wy, wx)."""
            size = 2 * n + 6
            if coarse_half is None:  # each window upsampled on its own
                x = crop_upsampled_fast(coarse, (wb, wy, wx), factor, half, size)
            else:
                x = _windows(coarse_half, wb, 2 * wy - 3, 2 * wx - 3, size)
            pooled = _windows(half_guide, wb, 2 * wy - 3, 2 * wx - 3, size, True)
            crops = _windows(guide, wb, 4 * wy - 2, 4 * wx - 2, 4 * n + 4, True)
            y_half, y_full = encode(pooled[:, :6]), encode(crops[:, :6])
            if crops.shape[1] > 6:  # the prior's channel
                y_half = torch.cat([y_half, pooled[:, 6:]], dim=1)
                y_full = torch.cat([y_full, crops[:, 6:]], dim=1)
            cl = torch.channels_last
            return self.convs(*(v.contiguous(memory_format=cl) for v in (x, y_half, y_full)))

        out = torch.empty((b.numel(), 4, 4, 4), dtype=guide.dtype, device=guide.device)
        if p_single:
            out[single] = refined(b[single], cy[single], cx[single], 1).to(out.dtype)
        if len(tiles[0]):
            x = refined(tiles[0], t * tiles[1], t * tiles[2], t)  # (tiles, 4, 4t, 4t)
            nt, c = x.shape[:2]
            cells = x.reshape(nt, c, t, 4, t, 4).permute(0, 2, 4, 1, 3, 5)
            out[in_tile] = cells[which, cy[in_tile] % t, cx[in_tile] % t].to(out.dtype)
        return out
