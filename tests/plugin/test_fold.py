"""Batch normalisation folded into the convolutions for inference (plugin/model/fold.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bgmatte.plugin.model.fold import fold_batch_norms
from bgmatte.plugin.model.network import MattingNetwork, NetworkConfig


def _trained_looking(seed: int) -> MattingNetwork:
    """A small network whose batch norms are not identities (random statistics)."""
    torch.manual_seed(seed)
    config = NetworkConfig(width=0.25, aspp_channels=16, decoder_channels=(16, 12, 8, 8),
                           segmentation=True, hidden=4, refine_prior=True)  # fmt: skip
    model = MattingNetwork(config, backbone_scale=0.5, refine_mode="full")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_folded_network_computes_the_same_alpha_without_batch_norms() -> None:
    model, folded = _trained_looking(0), _trained_looking(0)
    count = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batch_norms(folded) == count
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    src = torch.rand(1, 3, 64, 96)
    bgr, seg = src * 0.8, torch.rand(1, 1, 64, 96)
    with torch.inference_mode():
        want = model(src, bgr, seg, alpha_only=True)[0]
        got = folded(src, bgr, seg, alpha_only=True)[0]
    assert want is not None and got is not None
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_folding_needs_eval_mode() -> None:
    with pytest.raises(ValueError, match=r"^fold_batch_norms needs a model in eval mode$"):
        fold_batch_norms(_trained_looking(1).train())


def test_the_engine_runs_the_folded_network() -> None:
    from bgmatte.plugin.engines.network import get_model

    model, _ = get_model("")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
