"""Polyak averaging of a network's weights (an exponential moving average).

The average of the weights over the last steps (about 1 / (1 - decay) of them) is smoother
than the last step of a noisy objective: mean-teacher self-training keeps one (Tarvainen &
Valpola, NeurIPS 2017), and so do the shot adaptation and, with ``ema`` in its config, photo
model training. Normalisation statistics are averaged too; integer buffers are copied.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """``average`` ← decay · average + (1 - decay) · model, tensor by tensor, in place."""
    for a, m in zip(average.state_dict().values(), model.state_dict().values(), strict=True):
        if a.dtype.is_floating_point:
            a.mul_(decay).add_(m, alpha=1.0 - decay)
        else:
            a.copy_(m)
