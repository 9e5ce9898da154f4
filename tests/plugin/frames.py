"""A fake :class:`bgmatte.plugin.node.Fetcher` for driving the node in its own tests, so they
need no host: inputs are arrays in the working space, a still or a shot (frame → array)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bgmatte.plugin.node import Fetched

Input = np.ndarray | Mapping[int, np.ndarray]


class Frames:
    """Arrays by input name; identity is the array's content, as a cache key needs."""

    def __init__(self, **inputs: Input | None) -> None:
        self.inputs = {k: v for k, v in inputs.items() if v is not None}

    def _pixels(self, name: str, frame: int) -> np.ndarray | None:
        value = self.inputs.get(name)
        return value if value is None or isinstance(value, np.ndarray) else value.get(frame)

    def fetch(self, input_name: str, frame: int) -> Fetched | None:
        pixels = self._pixels(input_name, frame)
        return None if pixels is None else Fetched(pixels, "scene_linear", f"<{input_name}>")

    def identity(self, input_name: str, frame: int) -> str | None:
        pixels = self._pixels(input_name, frame)
        return None if pixels is None else f"{hash(pixels.tobytes())}{pixels.shape}"

    def frame_exists(self, frame: int) -> bool:
        plate = self.inputs.get("plate")
        return isinstance(plate, Mapping) and frame in plate
