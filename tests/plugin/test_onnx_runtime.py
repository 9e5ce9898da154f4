"""The onnxruntime path (param ``runtime``) against the PyTorch one: the same network, the same
matte to float rounding, in every refine mode, and a clear error without onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.errors import BgmatteError
from bgmatte.plugin.engines.network import get_model
from bgmatte.plugin.model.ort import onnxruntime_network

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def both() -> tuple[torch.nn.Module, torch.nn.Module]:
    model, _ = get_model("")  # the shipped model
    return model, onnxruntime_network(model, threads=1)


def test_runtimes_agree_on_every_output(both: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    model, ort_model = both
    assert ort_model.base_runner is not None and model.base_runner is None  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 96, 136, generator=g) * 4.0  # HDR: the transfer is in the graph's input
    bgr = src.roll(7, dims=3)
    seg = torch.rand(1, 1, 96, 136, generator=g)
    for mode in ("sampling", "full"):
        outs = []
        for net in (model, ort_model):
            net.backbone_scale = 0.5  # type: ignore[assignment]
            net.set_refine(mode, 2000)  # type: ignore[operator]
            with torch.inference_mode():
                outs.append(net(src, bgr, seg))
        for name, a, b in zip(
            ("pha", "fgr", "pha_sm", "fgr_sm", "err_sm", "ref"), *outs, strict=True
        ):
            assert a.shape == b.shape, name
            assert torch.allclose(a, b, atol=5e-5, rtol=1e-5), (mode, name, (a - b).abs().max())
        assert not torch.equal(outs[0][0], outs[1][0])  # really two runtimes


@pytest.mark.parametrize("refine_mode", ["sampling", "full", "off"])
def test_node_mattes_equal(small_shot: DemoShot, refine_mode: str) -> None:
    # float32 in both: torch's 'auto' takes bfloat16 on CPUs with AMX, the ONNX graph is float32
    kw = {"refine_mode": refine_mode, "align": "off", "precision": "fp32"}
    a = bgmatte.matte(small_shot.plate, small_shot.clean_plate, runtime="torch", **kw)
    b = bgmatte.matte(small_shot.plate, small_shot.clean_plate, runtime="onnxruntime", **kw)
    np.testing.assert_allclose(b.alpha, a.alpha, atol=1e-4, rtol=0)
    assert a.alpha.sum() > 100  # the subject is there


def test_missing_onnxruntime_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = get_model("")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BgmatteError) as info:
        onnxruntime_network(model)
    assert str(info.value) == (
        "runtime: ONNX export is not available (import of onnxruntime halted; None in "
        "sys.modules); pip install 'bgmatte[onnx]' (onnxruntime and onnx), or set runtime to torch"
    )
