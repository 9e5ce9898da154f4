"""A frame's host arrays on the GPU, each sent up once while the node solves the frame.

With ``device = cuda`` several stages take the same frame on the GPU: the plate goes to the
prior, the edge passes and the unmix; the clean plate the engine keyed against to the edge
passes and the unmix. Inside :func:`scope` (the node's solve of one output frame, on the
calling thread) :func:`to_device` keeps what it sent, keyed by the array's identity (the array
is held with it, so the identity cannot be reused), and hands the same tensor back (issue 15:
the frame goes up once). Outside a scope it just uploads. The stages treat their input arrays
as read-only, which makes a kept upload safe for the length of a frame.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where a frame goes to a device: a CPU render needs none
    import torch

_local = threading.local()


@contextmanager
def scope() -> Iterator[None]:
    """Keep uploads until the block ends (nested scopes share the outermost's)."""
    if getattr(_local, "held", None) is not None:
        yield
        return
    _local.held = {}
    try:
        yield
    finally:
        _local.held = None


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a float32 tensor on ``device``: within a :func:`scope`, the tensor an
    earlier call made of the same array, if any."""
    held: dict[tuple[int, str], tuple[np.ndarray, torch.Tensor]] | None = getattr(
        _local, "held", None
    )
    key = (id(array), str(device))
    if held is not None and key in held:
        return held[key][1]
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(device)
    if held is not None:
        held[key] = (array, tensor)
    return tensor


def kept() -> int:
    """How many uploads the current scope holds (0 outside one): for tests."""
    held = getattr(_local, "held", None)
    return 0 if held is None else len(held)
