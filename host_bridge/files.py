"""A :class:`bgmatte.plugin.node.Fetcher` over image files and frame sequences.

Used by the command line and render farms. Each input is a path, with a frame pattern
(``####``, ``%04d``, ``$F4``) or without one (a still used for every frame, as a clean plate
usually is). Inputs line up with the plate by their data and display windows, as
:mod:`bgmatte.host_bridge.windows` defines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge import windows
from bgmatte.host_bridge.imageio import Image, read_image
from bgmatte.host_bridge.sequence import frame_path
from bgmatte.plugin import colour
from bgmatte.plugin.node import Fetched


def _rgba_or_all(image: Image) -> np.ndarray:
    names = image.channel_names
    if names[:3] == ("R", "G", "B"):
        return image.pixels[..., : 4 if names[3:4] == ("A",) else 3]
    return image.pixels


def _data_window(image: Image) -> windows.Window:
    h, w = image.pixels.shape[:2]
    return (image.origin[0], image.origin[1], w, h)


def file_colorspace(image: Image, input_name: str) -> str:
    """The colour space ``colorspace='auto'`` takes for a file: see
    :func:`bgmatte.plugin.colour.default_colorspace`."""
    return colour.default_colorspace(image.colorspace, image.pixel_format, input_name)


class FileFetcher:
    """Reads the node's inputs from files. ``paths`` maps input name → path or pattern."""

    def __init__(self, paths: Mapping[str, str | None]) -> None:
        self.paths = {k: v for k, v in paths.items() if v}
        self._plate: dict[int, Image] = {}

    def path(self, input_name: str, frame: int) -> str | None:
        """The file that ``input_name`` reads at ``frame``; None when not connected."""
        pattern = self.paths.get(input_name)
        return None if pattern is None else frame_path(pattern, frame)

    def check_exists(self, frames: list[int]) -> None:
        """Fail before rendering when any input file of any frame is missing."""
        for name in self.paths:
            for frame in frames:
                path = self.path(name, frame)
                if path is not None and not os.path.isfile(path):
                    raise BgmatteError(
                        name, f"file not found: {path}", "check the path and frame number"
                    )

    def plate_image(self, frame: int) -> Image:
        """The plate of ``frame`` (cached for the frame being rendered)."""
        if frame not in self._plate:
            path = self.path("plate", frame)
            if path is None:
                raise BgmatteError("plate", "is not connected", "pass --plate")
            self._plate = {frame: read_image(path, "plate")}
        return self._plate[frame]

    def fetch(self, input_name: str, frame: int) -> Fetched | None:
        """See :class:`bgmatte.plugin.node.Fetcher`."""
        if input_name == "plate":
            img = self.plate_image(frame)
            return Fetched(_rgba_or_all(img), file_colorspace(img, f"plate {img.path}"), img.path)
        path = self.path(input_name, frame)
        if path is None:
            return None
        img = read_image(path, input_name)
        plate = self.plate_image(frame)
        name = f"{input_name} {img.path}"
        windows.same_format(img.full, plate.full, name, plate.path)
        pixels = windows.place(_rgba_or_all(img), _data_window(img), _data_window(plate), name)
        return Fetched(pixels, file_colorspace(img, name), img.path)

    def frame_exists(self, frame: int) -> bool:
        """Whether the plate's file for ``frame`` is on disk."""
        path = self.path("plate", frame)
        return path is not None and os.path.isfile(path)

    def identity(self, input_name: str, frame: int) -> str | None:
        """Path, modification time and size of the file: changes when its pixels do."""
        path = self.path(input_name, frame)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return f"{path}:missing"
        return f"{os.path.abspath(path)}:{st.st_mtime_ns}:{st.st_size}"
