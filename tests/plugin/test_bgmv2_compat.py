"""Our network equals the reference BackgroundMattingV2 ``MattingRefine`` given its weights.

The reference package (PyPI ``backgroundmattingv2``, plus ``torchvision`` for its model
classes, both installed with ``--no-deps``) is a test-only dependency; without it these
tests skip with the reason. Its weights are random (seeded) with non-trivial BatchNorm
statistics, saved as a ``.pth`` state dict and loaded through :func:`load_network`, the
path official checkpoints take.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from bgmatte.plugin.model.network import MattingNetwork, load_network

TOL = 1e-5  # max abs difference, float32 on the CPU
SIZE = (256, 320)
SAMPLE_PIXELS = 4000
THRESHOLD = 0.1
NAMES = ("pha", "fgr", "pha_sm", "fgr_sm", "err_sm", "ref_sm")


def _import_reference() -> tuple[Any, str]:
    """MattingRefine, or None and why not. The PyPI torchvision next to our torch cannot
    register its C++ operators ("operator torchvision::nms does not exist"); BGMv2's
    unfold patch crops do not use them, so the registration module is stubbed first."""
    for name in ("BackgroundMattingV2", "torchvision"):
        if importlib.util.find_spec(name) is None:
            return None, f"{name} is not installed (test-only: pip install --no-deps " \
                         "backgroundmattingv2 torchvision)"  # fmt: skip
    sys.modules.setdefault(
        "torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations")
    )
    try:
        from BackgroundMattingV2.model import MattingRefine
    except Exception as exc:  # any failure of a foreign package's import: skip, say why
        return None, f"cannot import BackgroundMattingV2: {type(exc).__name__}: {exc}"
    return MattingRefine, ""


MattingRefine, _WHY = _import_reference()
pytestmark = pytest.mark.skipif(MattingRefine is None, reason=_WHY)


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    bgr = torch.rand(1, 3, *SIZE, generator=g)
    src = bgr.clone()  # a subject over part of the frame, so the nets see a difference
    src[:, :, 60:200, 90:230] = torch.rand(1, 3, 140, 140, generator=g)
    return src, bgr


def _randomize(model: Any, seed: int) -> None:
    """Random BatchNorm affine parameters and running statistics, so no BatchNorm is the
    identity: each layer's statistics are those of its own input on the test frame (one
    eval-mode pass, layer after layer), perturbed, so activations stay in a useful range
    and the outputs are not all clamped to 0 or 1."""
    g = torch.Generator().manual_seed(seed)

    def calibrate(bn: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        assert isinstance(bn, nn.BatchNorm2d)
        assert bn.running_mean is not None and bn.running_var is not None
        x, c = args[0], bn.num_features
        if x.numel() // c >= 2:
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        else:  # ASPP's pooled branch: one value per channel
            mean, var = torch.zeros(c), x.pow(2).mean((0, 2, 3))
        bn.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(c, generator=g))
        bn.running_var.copy_((var + 1e-3) * (0.8 + 0.4 * torch.rand(c, generator=g)))

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks = [bn.register_forward_pre_hook(calibrate) for bn in bns]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=g))
            bn.bias.copy_(0.1 * torch.randn(bn.num_features, generator=g))
        model.eval()
        model(*_inputs())
    for hook in hooks:
        hook.remove()
    # Alpha and error mid-range: widen the output heads' spread, centre their means.
    means: dict[str, torch.Tensor] = {}
    heads = {"decoder": model.decoder.conv4, "refiner": model.refiner.conv4}

    def measure(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            means[name] = out.mean((0, 2, 3))

        return hook

    hooks = [head.register_forward_hook(measure(k)) for k, head in heads.items()]
    with torch.no_grad():
        for head in heads.values():
            head.weight.mul_(3.0)
        model(*_inputs())
        heads["decoder"].bias[[0, 4]] += torch.tensor([0.4, 0.2]) - means["decoder"][[0, 4]]
        heads["refiner"].bias[0] += 0.4 - means["refiner"][0]
    for hook in hooks:
        hook.remove()


@pytest.fixture(scope="module", params=["mobilenetv2", "resnet50"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> tuple[Any, MattingNetwork]:  # fmt: skip
    """(reference MattingRefine, ours loaded from its saved state dict) for one backbone."""
    torch.manual_seed(0)
    ref = MattingRefine(request.param, 0.25, "full", SAMPLE_PIXELS, THRESHOLD)
    _randomize(ref, seed=1)
    path = tmp_path_factory.mktemp(request.param) / "bgmv2.pth"
    torch.save(ref.state_dict(), path)
    ours = load_network(path, refine_mode="full")
    assert ours.config.backbone == request.param
    assert not ours.training
    return ref, ours


@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_matches_reference(pair: tuple[Any, MattingNetwork], mode: str) -> None:
    ref, ours = pair
    ref.refiner.mode = mode
    ours.set_refine(mode, SAMPLE_PIXELS, THRESHOLD)
    src, bgr = _inputs()
    with torch.no_grad():
        expected = ref(src.clone(), bgr.clone())
        got = ours(src, bgr)
    ref_sm = expected[5]
    if mode == "sampling":
        assert ref_sm.sum() == SAMPLE_PIXELS // 16
    elif mode == "thresholding":
        assert 0 < ref_sm.sum() < ref_sm.numel(), "no cell or every cell refined: weak test"
    for name, e, o in zip(NAMES, expected, got, strict=True):
        assert o is not None and o.shape == e.shape, name
        diff = (o - e).abs().max().item()
        assert diff <= TOL, f"{name}: max abs difference {diff:.3g} > {TOL}"
    # Not all clamped: the comparison sees real values.
    pha = expected[0]
    assert ((pha > 0.01) & (pha < 0.99)).float().mean() > 0.05
