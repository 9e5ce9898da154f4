"""The network engine through ``bgmatte.matte``, with a small random network saved by the test
(the shipped model has its own test): padding, params, passes, the linear-light unmix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin.engines import network
from bgmatte.plugin.model.network import MattingNetwork, NetworkConfig, save_weights

TINY = NetworkConfig(
    "mobilenetv2",
    width=0.25,
    aspp_channels=16,
    decoder_channels=(16, 16, 16, 16),
    segmentation=True,
    clamp_foreground=False,
    transfer="asinh",
    downsample="area",
    hidden=8,
    exact_crops=False,
)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    model = MattingNetwork(TINY).eval()
    with torch.no_grad():  # a centred error map, so the refiner has patches to refine
        model.decoder.conv4.bias[4] = 0.3
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(model, path)
    return str(path)


def test_odd_sizes_are_padded_and_cropped(small_shot: DemoShot, tiny_weights: str) -> None:
    plate, clean = small_shot.plate[:117, :150], small_shot.clean_plate[:117, :150]
    m = bgmatte.matte(plate, clean, engine="network", weights=tiny_weights)
    assert m.alpha.shape == (117, 150) and m.error.shape == (117, 150)
    assert m.segmentation.shape == (117, 150)
    assert np.isfinite(m.alpha).all() and 0 <= m.alpha.min() and m.alpha.max() <= 1


def test_foreground_reconstructs_the_plate(small_shot: DemoShot, tiny_weights: str) -> None:
    m = bgmatte.matte(
        small_shot.plate,
        small_shot.clean_plate,
        engine="network",
        weights=tiny_weights,
        unmix="exact",
    )
    a = m.alpha[..., None]
    recon = a * m.foreground + (1 - a) * m.clean_plate
    inside = m.alpha > 1e-3
    rel = np.abs(recon - small_shot.plate)[inside] / np.maximum(
        np.abs(small_shot.plate[inside]), 1e-3
    )
    assert inside.any() and rel.max() < 1e-4


@pytest.mark.parametrize("mode", ["sampling", "full", "off"])
def test_refine_modes_run(small_shot: DemoShot, tiny_weights: str, mode: str) -> None:
    m = bgmatte.matte(
        small_shot.plate,
        small_shot.clean_plate,
        engine="network",
        weights=tiny_weights,
        refine_mode=mode,
        base_scale="0.25",
    )
    assert m.alpha.shape == small_shot.alpha.shape


def test_refinement_changes_the_matte(small_shot: DemoShot, tiny_weights: str) -> None:
    args = (small_shot.plate, small_shot.clean_plate)
    off = bgmatte.matte(*args, engine="network", weights=tiny_weights, refine_mode="off")
    on = bgmatte.matte(*args, engine="network", weights=tiny_weights, refine_fraction=0.5)
    assert not np.array_equal(off.alpha, on.alpha)


def test_refine_detail_sends_the_refiner_where_the_prior_has_detail(
    small_shot: DemoShot, tiny_weights: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgmatte.plugin.model.refiner import Refiner

    chosen: list[torch.Tensor] = []
    select = Refiner.select

    def spy(self: Refiner, err: torch.Tensor) -> torch.Tensor:
        chosen.append(select(self, err))
        return chosen[-1]

    monkeypatch.setattr(Refiner, "select", spy)
    args = (small_shot.plate, small_shot.clean_plate, small_shot.alpha)  # the hair in the prior
    plain = bgmatte.matte(*args, engine="network", weights=tiny_weights, refine_fraction=0.05)
    hinted = bgmatte.matte(
        *args, engine="network", weights=tiny_weights, refine_fraction=0.05, refine_detail=4.0
    )
    assert not torch.equal(chosen[0], chosen[1])
    assert not np.array_equal(plain.alpha, hinted.alpha)
    # the patches it adds lie where the prior differs from its image on the base's grid (1/2,
    # auto for small frames), on the frame as the engine pads it
    from bgmatte.plugin.model.refiner import detail_hint

    h, w = small_shot.alpha.shape
    prior = torch.from_numpy(small_shot.alpha)[None, None]
    prior = torch.nn.functional.pad(prior, (0, -w % 8, 0, -h % 8), mode="replicate")
    detail = torch.nn.functional.max_pool2d(detail_hint(prior, 0.5), 4)[0, 0]
    added = (chosen[1] > chosen[0])[0, 0]
    assert added.any() and detail[added].mean() > 2 * detail.mean()


def test_segmentation_input_is_used(small_shot: DemoShot, tiny_weights: str) -> None:
    args = (small_shot.plate, small_shot.clean_plate)
    without = bgmatte.matte(*args, engine="network", weights=tiny_weights)
    with_seg = bgmatte.matte(*args, small_shot.alpha, engine="network", weights=tiny_weights)
    assert not np.array_equal(without.alpha, with_seg.alpha)
    np.testing.assert_array_equal(with_seg.segmentation, small_shot.alpha)


def test_missing_weights_are_named(small_shot: DemoShot, tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    msg = f"weights: file not found: {path}; check the weights path"
    with pytest.raises(bgmatte.BgmatteError, match=f"^{re.escape(msg)}$"):
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, engine="network", weights=str(path))


def test_derived_prior_is_the_classical_matte(small_shot: DemoShot, tiny_weights: str) -> None:
    args = (small_shot.plate, small_shot.clean_plate)
    derived = bgmatte.matte(*args, engine="network", weights=tiny_weights)
    # the classical matte as its engine keys it, before the edge passes
    classical = bgmatte.matte(*args, engine="classical", edge_passes=0)
    np.testing.assert_array_equal(derived.segmentation, classical.alpha)
    bare = bgmatte.matte(*args, engine="network", weights=tiny_weights, prior="none")
    assert not np.array_equal(bare.alpha, derived.alpha)
    assert not np.array_equal(bare.segmentation, classical.alpha)


def test_half_resolution_prior_is_the_halved_frames_classical_matte(
    small_shot: DemoShot, tiny_weights: str
) -> None:
    from bgmatte.plugin.engines.classical import halve

    args = (small_shot.plate, small_shot.clean_plate)
    half = bgmatte.matte(*args, engine="network", weights=tiny_weights, prior="classical_half")
    clean = bgmatte.matte(*args, engine="classical").clean_plate  # matched at full size
    small = bgmatte.matte(
        halve(small_shot.plate), halve(clean), engine="classical", match_exposure=False,
        edge_passes=0,
    )  # fmt: skip
    h, w = small_shot.plate.shape[:2]
    assert half.segmentation.shape == (h, w)
    up = cv2.resize(small.alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(half.segmentation, np.clip(up, 0, 1), atol=1e-6)
    full = bgmatte.matte(*args, engine="network", weights=tiny_weights)
    assert not np.array_equal(half.segmentation, full.segmentation)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:1"])
def test_cuda_device_without_a_gpu_says_so(
    small_shot: DemoShot, tiny_weights: str, device: str
) -> None:
    with pytest.raises(bgmatte.BgmatteError) as info:
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, weights=tiny_weights, device=device)
    assert str(info.value) == (
        f"device: PyTorch {torch.__version__} sees no CUDA GPU for the network; install a CUDA "
        "build of PyTorch on a machine with an NVIDIA GPU, or set device to 'cpu'"
    )


def test_unknown_device_fails_before_any_work(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgmatte.plugin import solve

    monkeypatch.setattr(solve, "align", None)  # reaching alignment would be a TypeError
    with pytest.raises(bgmatte.BgmatteError) as info:
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, device="tpu")
    assert str(info.value) == "device: unknown device 'tpu'; use 'cpu', 'cuda', 'cuda:N' or 'gpu'"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch sees none)")
def test_network_on_the_gpu_matches_the_cpu(small_shot: DemoShot) -> None:
    # A GPU runs the network in float32, so the CPU does too here: on a CPU with AMX the
    # default (precision 'auto') is bfloat16, which moved alpha by up to 0.58 on a few pixels of
    # this frame; against float32 on the CPU an H200 differed by at most 0.031 (TF32, sums)
    kw = {"align": "off", "unmix": "exact", "precision": "fp32"}
    cpu = bgmatte.matte(small_shot.plate, small_shot.clean_plate, **kw)
    gpu = bgmatte.matte(small_shot.plate, small_shot.clean_plate, device="cuda", **kw)
    diff = np.abs(gpu.alpha - cpu.alpha)
    assert diff.mean() < 1e-3 and diff.max() < 0.05
    assert isinstance(gpu.foreground, np.ndarray) and np.isfinite(gpu.foreground).all()
    with pytest.raises(bgmatte.BgmatteError, match=r"^device: cuda:99 does not exist"):
        bgmatte.matte(small_shot.plate, small_shot.clean_plate, device="cuda:99", **kw)


def test_flips_ensemble_mattes_a_mirrored_frame_as_the_mirror_image(small_shot: DemoShot) -> None:
    # The four passes are closed under mirroring, so the averaged matte of a mirrored frame is
    # the mirrored matte (the prior is left out: the classical noise fit samples pixels in
    # raster order, which a mirror changes). One pass is far from that.
    plate, clean = small_shot.plate, small_shot.clean_plate
    gaps = {}
    for ensemble in ("off", "flips"):
        kw = {"prior": "none", "align": "off", "ensemble": ensemble}
        a = bgmatte.matte(plate, clean, **kw).alpha
        lr = bgmatte.matte(plate[:, ::-1], clean[:, ::-1], **kw).alpha[:, ::-1]
        ud = bgmatte.matte(plate[::-1], clean[::-1], **kw).alpha[::-1]
        gaps[ensemble] = max(np.abs(a - lr).max(), np.abs(a - ud).max())
    assert gaps["flips"] < 1e-5 < 0.1 < gaps["off"]


def test_frames_are_padded_into_one_buffer_the_refiner_takes_without_a_copy() -> None:
    """The engine's src, bgr and seg are the replicate-padded frames, adjacent channel views
    of one buffer, so the refiner's guide joins them without a copy (and equals the
    concatenation); frames from separate tensors are concatenated."""
    import torch.nn.functional as F

    from bgmatte.plugin.engines.network import _padded
    from bgmatte.plugin.model.refiner import joined

    rng = np.random.default_rng(3)
    plate, clean = rng.random((2, 37, 50, 3), dtype=np.float32)
    seg = rng.random((37, 50), dtype=np.float32)
    src, bgr, got_seg = _padded(plate, clean, seg, (48, 64), torch.device("cpu"))
    assert got_seg is not None
    for got, frame in ((src, plate), (bgr, clean), (got_seg, seg[..., None])):
        want = torch.from_numpy(frame).permute(2, 0, 1)[None]
        assert torch.equal(got, F.pad(want, (0, 14, 0, 11), mode="replicate"))
    guide = joined([src, bgr, got_seg])
    assert guide.data_ptr() == src.data_ptr() and guide.is_contiguous(
        memory_format=torch.channels_last
    )
    assert torch.equal(guide, torch.cat([src, bgr, got_seg], dim=1))
    apart = [src.clone(), bgr.clone()]
    assert torch.equal(joined(apart), torch.cat([src, bgr], dim=1))
    assert joined(apart).data_ptr() != apart[0].data_ptr()
    assert joined([bgr, src]).data_ptr() != src.data_ptr()  # not in the buffer's order
    src, bgr, none = _padded(plate, clean, None, (37, 56), torch.device("cpu"))
    assert none is None and torch.equal(
        bgr[..., :50], torch.from_numpy(clean).permute(2, 0, 1)[None]
    )


def test_the_network_gives_the_same_bits_on_the_buffer_as_on_separate_frames() -> None:
    """The base pass downscales the buffer's frames in one call, the refiner joins them
    without a copy: the same alpha, coarse outputs and error map to the bit as frames
    handed in separately."""
    from bgmatte.plugin.engines.network import _padded, get_model

    model, _ = get_model("")
    rng = np.random.default_rng(4)
    plate, clean = 2.0 * rng.random((2, 120, 160, 3), dtype=np.float32)
    seg = rng.random((120, 160), dtype=np.float32)
    src, bgr, got_seg = _padded(plate, clean, seg, (128, 160), torch.device("cpu"))
    assert got_seg is not None
    apart = [t.contiguous(memory_format=torch.channels_last) for t in (src, bgr, got_seg)]
    model.backbone_scale = 0.5
    with torch.inference_mode():
        a, b = model(src, bgr, got_seg), model(*apart)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))


def test_the_buffer_takes_the_frames_in_the_networks_float_type(
    small_shot: DemoShot, tiny_weights: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In bf16 the padded frames are stored in bf16 (half the memory of the largest buffer
    of the call); in float32, as float32."""
    from bgmatte.plugin.engines import network

    seen: list[torch.dtype] = []
    padded = network._padded

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = padded(*args, **kwargs)
        seen.append(out[0].dtype)
        return out

    monkeypatch.setattr(network, "_padded", spy)
    for precision in ("fp32", "bf16"):
        bgmatte.matte(
            small_shot.plate, small_shot.clean_plate, engine="network", weights=tiny_weights,
            precision=precision,
        )  # fmt: skip
    assert seen == [torch.float32, torch.bfloat16]


@pytest.fixture(scope="module")
def leaning_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny network with its alpha raised: mostly subject but short of 1 (0.86-0.93)
    inside the demo's body."""
    torch.manual_seed(0)
    model = MattingNetwork(TINY).eval()
    with torch.no_grad():
        model.decoder.conv4.bias[4] = 0.3
        model.decoder.conv4.bias[0] += 1.0
    path = tmp_path_factory.mktemp("w") / "leaning.safetensors"
    save_weights(model, path)
    return str(path)


def test_deep_inside_the_classical_solid_part_the_subject_is_opaque(
    small_shot: DemoShot, leaning_weights: str
) -> None:
    # Where the classical matte (the derived prior) is solid over a whole neighbourhood and
    # the network says mostly subject, alpha is 1; elsewhere, the rim of the solid part
    # included, the network's own alpha stands.
    # (the edges solved again afterwards, edge_passes, would change the fractional rest)
    args = (small_shot.plate, small_shot.clean_plate)
    net = {"engine": "network", "weights": leaning_weights, "edge_passes": 0}
    got = bgmatte.matte(*args, **net)
    raw = bgmatte.matte(*args, **net, fill_holes=False)
    classical = bgmatte.matte(*args, engine="classical", edge_passes=0).alpha
    sure = network.sure_subject(classical)
    assert sure.sum() > 1000
    filled = sure & (raw.alpha >= network.SURE_SUBJECT_ALPHA)
    assert (raw.alpha[filled] < 1.0).sum() > 100  # holes the rule fills
    np.testing.assert_array_equal(got.alpha, np.where(filled, 1.0, raw.alpha))
    # Without the shadow separation the classical matte keys a cast shadow as solid: it is
    # then not trusted to be subject.
    off = bgmatte.matte(*args, **net, separate_shadows=False)
    assert (off.alpha[filled] < 1.0).any()


def test_the_sure_subject_is_eroded_in_proportion_to_the_frame() -> None:
    sizes = ((640, network.SURE_SUBJECT), (1280, 2 * network.SURE_SUBJECT))
    for long_side, r in (*sizes, (160, network.MIN_SURE_SUBJECT)):  # (at least 3 px)
        alpha = np.zeros((long_side // 2, long_side), np.float32)
        alpha[10:60, 10:60] = 1.0
        sure = network.sure_subject(alpha)
        ys, xs = np.nonzero(sure)
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (10 + r, 59 - r, 10 + r, 59 - r)
    assert not network.sure_subject(np.full((32, 32), 0.99, np.float32)).any()  # solid only
