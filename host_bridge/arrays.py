"""A :class:`bgmatte.plugin.node.Fetcher` over in-memory arrays, for Python hosts and tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from bgmatte.plugin.node import Fetched

Frames = np.ndarray | Mapping[int, np.ndarray]


def _hash(v: np.ndarray) -> str:
    """Content hash (BLAKE2b: it runs on every render call of a host, over whole frames)."""
    digest = hashlib.blake2b(np.ascontiguousarray(v).tobytes(), digest_size=16).hexdigest()
    return digest + str(v.shape)


class ArrayFetcher:
    """Inputs already in the working space: an array (the same at every frame) or a mapping
    frame → array (a shot; the plate's frames are the shot's)."""

    def __init__(self, **inputs: Frames | None) -> None:
        self.inputs = {k: v for k, v in inputs.items() if v is not None}
        self._ids: dict[tuple[str, int | None], str] = {}  # hashed on first use only

    def _get(self, input_name: str, frame: int) -> np.ndarray | None:
        v = self.inputs.get(input_name)
        return v if v is None or isinstance(v, np.ndarray) else v.get(frame)

    def fetch(self, input_name: str, frame: int) -> Fetched | None:
        """See :class:`bgmatte.plugin.node.Fetcher`."""
        pixels = self._get(input_name, frame)
        return None if pixels is None else Fetched(pixels, "scene_linear", f"<{input_name}>")

    def identity(self, input_name: str, frame: int) -> str | None:
        """Content hash of the array (computed when first asked: a node that keeps no cache
        never asks)."""
        pixels = self._get(input_name, frame)
        if pixels is None:
            return None
        at = None if isinstance(self.inputs[input_name], np.ndarray) else frame  # a still: once
        found = self._ids.get((input_name, at))
        if found is None:
            found = self._ids[input_name, at] = _hash(pixels)
        return found

    def frame_exists(self, frame: int) -> bool:
        """A plate given as one array is a still: it has no neighbouring frames to stabilise
        with (False). A mapping has its keys."""
        plate = self.inputs.get("plate")
        return plate is not None and not isinstance(plate, np.ndarray) and frame in plate
