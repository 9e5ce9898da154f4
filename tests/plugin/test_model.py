"""The matting network on small tensors: weights in and out, errors, the refiner's patch
crops against a plain global computation, the HDR transfer, and our own model variants."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from bgmatte.errors import BgmatteError
from bgmatte.plugin.model import encoding
from bgmatte.plugin.model.network import (
    MattingNetwork,
    NetworkConfig,
    load_network,
    save_weights,
    warm_start,
)
from bgmatte.plugin.model.refiner import crop_full, crop_upsampled

SMALL = NetworkConfig("mobilenetv2", width=0.5, aspp_channels=32, decoder_channels=(32, 16, 16, 8),
                      hidden=8)  # fmt: skip
HDR = NetworkConfig("mobilenetv2", width=0.5, aspp_channels=128,
                    decoder_channels=(128, 64, 48, 32), segmentation=True,
                    clamp_foreground=False, transfer="asinh", downsample="area",
                    hidden=16)  # fmt: skip


def _model(config: NetworkConfig, **runtime: Any) -> MattingNetwork:
    torch.manual_seed(0)
    return MattingNetwork(config, **runtime).eval()


def _pair(h: int = 64, w: int = 96, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return scale * torch.rand(1, 3, h, w, generator=g), scale * torch.rand(1, 3, h, w, generator=g)


# ------------------------------------------------------------------------------- weights
def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model(SMALL, refine_mode="thresholding", refine_threshold=0.05)
    path = tmp_path / "small.safetensors"
    save_weights(model, path, {"note": "test"})
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert NetworkConfig.from_json(meta["config"]) == SMALL
    assert meta["note"] == "test"
    loaded = load_network(path, refine_mode="thresholding", refine_threshold=0.05)
    assert loaded.config == SMALL and not loaded.training
    src, bgr = _pair()
    with torch.no_grad():
        for a, b in zip(model(src, bgr), loaded(src, bgr), strict=True):
            assert a is not None and b is not None
            assert torch.equal(a, b)


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    msg = f"weights: file not found: {path}; check the weights path"
    with pytest.raises(BgmatteError, match=re.escape(msg)) as info:
        load_network(path)
    assert str(info.value) == msg


def test_load_weights_that_do_not_fit(tmp_path: Path) -> None:
    """Another config's tensors under this config's name: shapes differ, nothing missing."""
    path = tmp_path / "wrong.safetensors"
    save_weights(_model(SMALL), path)
    other = tmp_path / "other.safetensors"
    save_weights(_model(NetworkConfig("mobilenetv2", width=0.5, aspp_channels=32,
                                      decoder_channels=(32, 16, 16, 8), hidden=8,
                                      segmentation=True)), other)  # fmt: skip
    # Swap the config in: the 8-channel first conv does not fit a 6-channel network.
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(other)), str(path), metadata={"config": SMALL.to_json()})
    with pytest.raises(BgmatteError) as info:
        load_network(path)
    assert str(info.value) == (
        f"weights: {path} does not fit the mobilenetv2 network (0 missing, 0 unexpected, "
        "2 misshapen tensors); pass weights saved by bgmatte or an official BGMv2 checkpoint"
    )


def test_load_drops_and_extras(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in _model(SMALL).state_dict().items()}
    del state["refiner.conv4.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path), metadata={"config": SMALL.to_json()})
    with pytest.raises(BgmatteError, match=re.escape("(1 missing, 1 unexpected, 0 misshapen")):
        load_network(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_load_garbage(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(b"\x00\xffthis is not a checkpoint\n" * 8)
    with pytest.raises(BgmatteError) as info:
        load_network(path)
    text = str(info.value)
    assert text.startswith(f"weights: cannot read {path} (")
    assert text.endswith("); pass a bgmatte .safetensors file or an official BGMv2 .pth checkpoint")


# ------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_alpha_only(mode: str) -> None:
    model = _model(SMALL, refine_mode=mode, refine_sample_pixels=2000, refine_threshold=0.0)
    src, bgr = _pair()
    with torch.no_grad():
        full = model(src, bgr)
        alpha = model(src, bgr, alpha_only=True)
    assert full[1] is not None and alpha[1] is None
    assert full[0] is not None and alpha[0] is not None
    assert torch.equal(full[0], alpha[0])
    assert full[5] is not None and alpha[5] is not None
    assert torch.equal(full[5], alpha[5])


def test_hdr_variant_with_and_without_segmentation() -> None:
    model = _model(HDR, refine_mode="sampling", refine_sample_pixels=4000)
    src, bgr = _pair(128, 128, scale=50.0)
    seg = torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for s in (None, seg):
            pha, fgr, *rest = model(src, bgr, s)
            assert pha is not None and fgr is not None
            assert pha.shape == (1, 1, 128, 128) and fgr.shape == (1, 3, 128, 128)
            assert 0.0 <= pha.min() and pha.max() <= 1.0
            for t in (pha, fgr, *rest):
                assert t is not None and torch.isfinite(t).all()


def test_full_mode_equals_every_patch_refined() -> None:
    """ "full" (plain convolutions over the frame) and patches everywhere are one function,
    also with the transfer applied inside the network."""
    model = _model(HDR, refine_mode="full")
    src, bgr = _pair(64, 96, scale=4.0)
    with torch.no_grad():
        full = model(src, bgr)
        model.set_refine("thresholding", threshold=-1.0)
        patches = model(src, bgr)
    assert patches[5] is not None and bool(patches[5].all())
    for a, b in zip(full[:2], patches[:2], strict=True):
        assert a is not None and b is not None
        assert (a - b).abs().max() < 1e-4


def test_refine_hint_sends_the_refiner_where_it_says() -> None:
    """Training's hint is added to the error map when patches are selected: with a budget of
    one patch, a hinted 4×4 cell wins over the error map's choice."""
    model = _model(HDR, refine_mode="sampling", refine_sample_pixels=16)
    src, bgr = _pair(64, 96, scale=4.0)
    hint = torch.zeros(1, 1, 64, 96)
    hint[0, 0, 41, 70] = 5.0  # one pixel of cell (10, 17)
    with torch.no_grad():
        plain = model(src, bgr)[5]
        hinted = model(src, bgr, refine_hint=hint)[5]
    assert plain is not None and hinted is not None
    assert int(plain.sum()) == int(hinted.sum()) == 1
    assert hinted[0, 0, 10, 17] == 1 and plain[0, 0, 10, 17] == 0


# ------------------------------------------------------------------------------- refiner crops
def _cells() -> tuple[torch.Tensor, ...]:
    """Cells of a (2, ·, 40, 48) frame's 10×12 grid: all four corners of both images, the
    edges, and a random interior sample."""
    b = [0, 0, 1, 1, 0, 1, 0, 1]
    y = [0, 9, 0, 9, 4, 0, 9, 5]
    x = [0, 11, 11, 0, 0, 6, 5, 11]
    g = torch.Generator().manual_seed(3)
    b += torch.randint(0, 2, (12,), generator=g).tolist()
    y += torch.randint(0, 10, (12,), generator=g).tolist()
    x += torch.randint(0, 12, (12,), generator=g).tolist()
    return torch.tensor(b), torch.tensor(y), torch.tensor(x)


def _unfold_crops(x: torch.Tensor, idx: tuple[torch.Tensor, ...], size: int,
                  pad: int) -> torch.Tensor:  # fmt: skip
    """The plain global computation: zero-pad, cut every window, pick the cells."""
    k = size + 2 * pad
    win = F.pad(x, (pad,) * 4).unfold(2, k, size).unfold(3, k, size)  # (B, C, nh, nw, k, k)
    return win[idx[0], :, idx[1], idx[2]]


def test_crop_full_matches_unfold() -> None:
    x = torch.randn(2, 5, 40, 48, generator=torch.Generator().manual_seed(4))
    idx = _cells()
    for pad in (0, 2, 6):
        assert torch.equal(crop_full(x, idx, pad), _unfold_crops(x, idx, 4, pad))
    assert crop_full(x, idx, 2).is_contiguous()


@pytest.mark.parametrize("base", [(10, 12), (5, 6), (20, 24), (7, 9)])
def test_crop_upsampled_matches_unfold(base: tuple[int, int]) -> None:
    """Half resolution (20, 24) from coarser maps (×2, ×4, non-integer) and from a finer one
    (the plates' downscale)."""
    x = torch.randn(2, 7, *base, generator=torch.Generator().manual_seed(5))
    half = (20, 24)
    idx = _cells()
    up = F.interpolate(x, half, mode="bilinear", align_corners=False)
    assert torch.equal(crop_upsampled(x, idx, half), _unfold_crops(up, idx, 2, 3))


# ------------------------------------------------------------------------------- transfer
def test_encoding_round_trip() -> None:
    x = torch.cat([torch.linspace(-0.1, 1.0, 1001), torch.logspace(0, 3, 301)])
    assert torch.allclose(encoding.decode(encoding.encode(x)), x, rtol=1e-5, atol=1e-7)
    assert encoding.encode(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-7)
    assert encoding.encode(torch.tensor(0.0)).item() == 0.0
    assert torch.all(torch.diff(encoding.encode(x[:1001])) > 0)


@pytest.mark.parametrize("mode", ["full", "sampling"])
def test_refiner_prior_warm_start_is_exact_and_the_prior_is_used(mode: str) -> None:
    old = MattingNetwork(NetworkConfig(width=0.25, hidden=8, segmentation=True, transfer="asinh"))
    config = dataclasses.replace(old.config, refine_prior=True)
    new = MattingNetwork(config)
    assert warm_start(new, old.state_dict()) == ["refiner.conv1.weight", "refiner.conv3.weight"]
    torch.manual_seed(1)
    src = torch.rand(1, 3, 64, 96)
    seg = (torch.rand(1, 1, 64, 96) > 0.5).float()
    for model in (old, new):
        model.eval().set_refine(mode, 64 * 96)
    with torch.no_grad():
        torch.testing.assert_close(new(src, src * 0.8, seg)[0], old(src, src * 0.8, seg)[0])
        new.refiner.conv1.weight[:, -1] = 1.0  # now the full-resolution prior reaches alpha
        new.refiner.conv3.weight[:, -1] = 1.0
        assert not torch.equal(new(src, src * 0.8, seg)[0], old(src, src * 0.8, seg)[0])


def test_warm_start_refuses_other_mismatches() -> None:
    small = MattingNetwork(NetworkConfig(width=0.25, hidden=8))
    other = MattingNetwork(NetworkConfig(width=0.25, hidden=4))
    with pytest.raises(ValueError, match=r"warm start: decoder"):
        warm_start(other, small.state_dict())


def test_sampling_skips_patches_under_the_error_floor() -> None:
    """Sampling refines the largest errors within the budget, but none at or under
    ``min_error``; the engine's network has the floor set (refiner.MIN_ERROR)."""
    from bgmatte.plugin.engines.network import get_model
    from bgmatte.plugin.model.refiner import MIN_ERROR, Refiner

    err = torch.tensor([0.0, 0.01, 0.02, 0.03, 0.5, 0.2]).view(1, 1, 2, 3)
    refiner = Refiner("sampling", sample_pixels=16 * 6)
    assert refiner.select(err).flatten().tolist() == [0, 1, 1, 1, 1, 1]
    refiner.min_error = 0.02
    assert refiner.select(err).flatten().tolist() == [0, 0, 0, 1, 1, 1]
    refiner.sample_pixels = 16 * 2  # the budget still caps it: the two largest
    assert refiner.select(err).flatten().tolist() == [0, 0, 0, 0, 1, 1]
    import numpy as np

    from bgmatte.plugin.engines.network import run
    from bgmatte.plugin.params import resolve_params

    model, _ = get_model("")
    model.refiner.min_error = 0.0
    plate = np.full((64, 64, 3), 0.5, np.float32)
    run(plate, plate, None, resolve_params({}))
    assert model.refiner.min_error == MIN_ERROR > 0


@pytest.mark.parametrize("factor", [2, 4])
def test_crop_upsampled_fast_takes_windows_of_any_size(factor: int) -> None:
    """The per-window upsample of a square of cells (2·cells + 6 px) is the frame-sized one's
    window, to float rounding, at the frame's borders too."""
    from bgmatte.plugin.model.refiner import _windows, crop_upsampled_fast

    half = (32, 48)
    x = torch.randn(
        2, 5, half[0] // factor, half[1] // factor, generator=torch.Generator().manual_seed(6)
    )
    up = F.interpolate(x, half, mode="bilinear", align_corners=False)
    b, cy, cx = (
        torch.tensor([0, 1, 1, 0]),
        torch.tensor([0, 4, 12, 8]),
        torch.tensor([0, 20, 4, 21]),
    )
    for cells in (1, 4):
        size = 2 * cells + 6
        got = crop_upsampled_fast(x, (b, cy, cx), factor, half, size)
        torch.testing.assert_close(got, _windows(up, b, 2 * cy - 3, 2 * cx - 3, size))


def test_tiles_refine_as_their_single_patches() -> None:
    """At inference, cells that crowd a tile go through the convolutions as one window; each
    cell's value is its own patch's, to float rounding (the plates' half-resolution windows
    and the prior included), and the rest stay single patches."""
    from bgmatte.plugin.model.refiner import TILE, TILE_MIN, _tiles

    config = dataclasses.replace(HDR, exact_crops=False, refine_prior=True)
    model = _model(config, refine_mode="sampling", refine_sample_pixels=16 * 300)
    g = torch.Generator().manual_seed(7)
    src, bgr = (
        4.0 * torch.rand(1, 3, 128, 192, generator=g),
        4.0 * torch.rand(1, 3, 128, 192, generator=g),
    )
    seg = torch.rand(1, 1, 128, 192, generator=g)
    with torch.no_grad():
        tiled = model(src, bgr, seg)
        ref = tiled[5]
        assert ref is not None
        idx = tuple(torch.nonzero(ref[:, 0]).unbind(1))
        in_tile, tiles, _ = _tiles(idx, TILE, (1, 32, 48))
        assert 0 < int(in_tile.sum()) < len(in_tile) and len(tiles[0]) > 0  # both kinds ran
        assert TILE_MIN * len(tiles[0]) <= int(in_tile.sum())
        model.refiner.tile = 0
        single = model(src, bgr, seg)
    assert single[5] is not None and torch.equal(single[5], ref)
    for a, b in zip(tiled[:2], single[:2], strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    # In training, batch norms take their statistics from the patches: single ones only.
    model.refiner.train()
    model.refiner.tile = TILE
    sizes = []
    convs = model.refiner.convs

    def spy(x: torch.Tensor, y_half: torch.Tensor, y_full: torch.Tensor) -> torch.Tensor:
        sizes.append(y_full.shape[-1])
        return convs(x, y_half, y_full)

    model.refiner.convs = spy
    model(src, bgr, seg)
    assert sizes == [8]


def test_windows_are_convolved_in_chunks_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The inference refiner convolves its windows a chunk at a time (its activations are
    held per chunk: peak RSS of an HD call 730 -> 630 MB): the same refined frame, to the bit,
    as all windows at once."""
    from bgmatte.plugin.model import refiner

    model = _model(
        dataclasses.replace(HDR, exact_crops=False), refine_mode="sampling",
        refine_sample_pixels=16 * 300,
    )  # fmt: skip
    g = torch.Generator().manual_seed(7)
    src, bgr = (4.0 * torch.rand(1, 3, 128, 192, generator=g) for _ in range(2))
    batches: list[int] = []
    convs = model.refiner.convs

    def spy(x: torch.Tensor, y_half: torch.Tensor, y_full: torch.Tensor) -> torch.Tensor:
        batches.append(x.shape[0])
        return convs(x, y_half, y_full)

    model.refiner.convs = spy
    with torch.no_grad():
        whole = model(src, bgr)
        monkeypatch.setattr(refiner, "WINDOW_CHUNK", 16)
        once = len(batches)
        chunked = model(src, bgr)
    assert max(batches[once:]) <= 16 < max(batches[:once])  # really chunked
    for a, b in zip(whole[:2], chunked[:2], strict=True):
        assert a is not None and b is not None
        assert torch.equal(a, b)
