"""A :class:`bgmatte.plugin.node.Fetcher` over in-memory arrays, for Python hosts and tests."""

from __future__ import annotations

import hashlib

import numpy as np

from bgmatte.plugin.node import Fetched


class ArrayFetcher:
    """Inputs given as arrays (the same for every frame), already in the working space."""

    def __init__(self, **inputs: np.ndarray | None) -> None:
        self.inputs = {k: v for k, v in inputs.items() if v is not None}
        self._ids = {
            k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() + str(v.shape)
            for k, v in self.inputs.items()
        }

    def fetch(self, input_name: str, frame: int) -> Fetched | None:
        """See :class:`bgmatte.plugin.node.Fetcher`."""
        pixels = self.inputs.get(input_name)
        return None if pixels is None else Fetched(pixels, "scene_linear", f"<{input_name}>")

    def identity(self, input_name: str, frame: int) -> str | None:
        """Content hash of the array."""
        return self._ids.get(input_name)
