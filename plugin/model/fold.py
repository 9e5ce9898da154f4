"""Batch normalisation folded into the convolution before it, for inference.

In eval mode a BatchNorm2d is a per-channel affine map, so ``bn(conv(x))`` equals one
convolution with scaled weights and a bias (the standard inference fusion, e.g.
``torch.nn.utils.fusion.fuse_conv_bn_eval``, which does the arithmetic here). The network
then skips one pass over every feature map. Results agree with the unfolded network to
float rounding. Training keeps the unfolded modules: only the engine's cached inference
copy is folded.
"""

from __future__ import annotations

import itertools

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _fold_sequential(seq: nn.Sequential) -> int:
    folded = 0
    names = list(seq._modules)
    for first, second in itertools.pairwise(names):
        conv, bn = seq._modules[first], seq._modules[second]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            seq._modules[first] = fuse_conv_bn_eval(conv, bn)
            seq._modules[second] = nn.Identity()
            folded += 1
    return folded


def _fold_named_pairs(module: nn.Module) -> int:
    """``convN`` followed by ``bnN`` (the decoder's and the refiner's naming, after BGMv2)."""
    folded = 0
    for name, conv in list(module.named_children()):
        if not name.startswith("conv") or not isinstance(conv, nn.Conv2d):
            continue
        bn = getattr(module, "bn" + name[4:], None)
        if isinstance(bn, nn.BatchNorm2d):
            setattr(module, name, fuse_conv_bn_eval(conv, bn))
            setattr(module, "bn" + name[4:], nn.Identity())
            folded += 1
    return folded


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d into it, in place (``model``
    must be in eval mode). Returns how many were folded."""
    if model.training:
        raise ValueError("fold_batch_norms needs a model in eval mode")
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            folded += _fold_sequential(module)
        folded += _fold_named_pairs(module)
    return folded
