"""The layers whose training-mode output depends on the whole batch, made to compute over the
whole batch of a data-parallel run (each process holding an equal, contiguous slice of it),
on the CPU (gloo) and on CUDA (NCCL).

- :class:`SyncBatchNorm2d`: a plain BatchNorm2d in train mode normalises by its own slice's
  mean and variance. This one takes the statistics of the whole batch, from per-channel sums
  all-reduced over the processes (torch's ``nn.SyncBatchNorm`` does the same but refuses CPU
  tensors). The variance is taken in two passes (the mean all-reduced first, then the sum of
  squared deviations from it), so it keeps its precision where E[x²] − E[x]² would cancel.
  The all-reduces pass gradients back (:class:`_AllReduceSum`), so each process's gradient
  includes what its slice contributed to the other slices' normalisation.
- :class:`ShardedDropout`: a plain Dropout draws a mask for its slice from the process's
  random stream, which every process seeds alike: all would draw the first slice's mask,
  and their streams would drift from one process's. This one draws the whole batch's mask
  (the very draw one process makes) and keeps its slice of it.

Outside a process group, or in eval mode, both are their torch layer exactly: they override
``forward`` only and keep the same parameters, buffers and state-dict keys, so the weights
they train load anywhere (and :mod:`bgmatte.plugin.model.fold` folds the batch norms).
:func:`convert` swaps them in.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over the processes, with its gradient: each process's input feeds
    every process's output, so its gradient is the sum of all the outputs' gradients.

    (``torch.distributed.nn.functional.all_reduce`` computes the same, but is deprecated
    since torch 2.x and warns at every call.)"""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the processes of the default group, differentiably."""
    out: torch.Tensor = _AllReduceSum.apply(tensor)
    return out


class SyncBatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d whose batch statistics are those of the whole data-parallel batch (see
    the module docstring). Every process must call it the same number of times."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        batch_stats = self.training or self.running_mean is None
        if not (batch_stats and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        return self._synced(input)

    def _synced(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        count = xf.new_full((1,), xf.numel() // c if c else 0)
        total = all_reduce_sum(torch.cat([xf.sum((0, 2, 3)), count]))
        n = float(total[c].detach())
        if n == 0:  # no process has any value: nothing to normalise, no statistics to keep
            return x
        mean = total[:c] / n
        centred = xf - mean[None, :, None, None]
        var = all_reduce_sum((centred * centred).sum((0, 2, 3))) / n
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.weight is not None and self.bias is not None:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.training and self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), n)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        """The running statistics as nn.BatchNorm2d keeps them: the unbiased variance, and an
        exponential average (``momentum``) or, with ``momentum=None``, a cumulative one."""
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = float(self.momentum)
        unbiased = var * (n / (n - 1)) if n > 1 else var
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


class ShardedDropout(nn.Dropout):
    """nn.Dropout whose mask is this process's slice of the whole batch's (see the module
    docstring): the process draws the mask of all ``world`` slices, as one process would on
    the whole batch, and applies its own. The batch's slices must all be the same size."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.p > 0 and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        rank, world = dist.get_rank(), dist.get_world_size()
        b = input.shape[0]
        ones = torch.ones(
            (b * world, *input.shape[1:]), dtype=input.dtype, device=input.device
        ).contiguous(memory_format=_memory_format(input))
        mask = F.dropout(ones, self.p, True)  # 0 or 1/(1-p): F.dropout's own noise
        return input * mask[rank * b : (rank + 1) * b]


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def convert(module: nn.Module) -> int:
    """Make every nn.BatchNorm2d in ``module`` (itself included) a :class:`SyncBatchNorm2d`
    and every nn.Dropout a :class:`ShardedDropout`, in place: the same objects, parameters
    and buffers (an optimizer built before still holds them; the state dict is unchanged).
    Returns how many layers were converted."""
    converted = 0
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = SyncBatchNorm2d
            converted += 1
        elif type(m) is nn.Dropout:
            m.__class__ = ShardedDropout
            converted += 1
    return converted
