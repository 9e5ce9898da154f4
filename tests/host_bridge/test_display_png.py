"""The one PNG writer (bgmatte.plugin.display.write_png), read back by OpenImageIO."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.imageio import read_image
from bgmatte.plugin.display import write_png


def test_write_png(tmp_path: Path) -> None:
    path = tmp_path / "sheet.png"
    rgb = np.zeros((3, 5, 3), np.float32)
    rgb[..., 0] = 1.5  # clipped
    rgb[..., 1] = 0.5
    write_png(str(path), rgb)
    image = read_image(str(path), "sheet")
    assert image.pixel_format == "uint8"
    np.testing.assert_allclose(image.pixels[..., 0], 1.0)
    np.testing.assert_allclose(image.pixels[..., 1], 128 / 255)
    write_png(str(path), np.full((2, 2, 3), 255, np.uint8))
    assert read_image(str(path), "sheet").pixels.shape == (2, 2, 3)
    assert os.listdir(tmp_path) == ["sheet.png"]


@pytest.mark.parametrize("channels", [1, 4])
def test_write_png_grey_and_rgba(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "m.png"
    pixels = np.arange(2 * 3 * channels, dtype=np.uint8).reshape(2, 3, channels) * 10
    pixels[..., -1] = 255 if channels == 4 else pixels[..., -1]  # OIIO premultiplies on read
    write_png(path, pixels)
    back = read_image(str(path), "m")
    assert back.pixels.shape == (2, 3, channels)
    np.testing.assert_array_equal(np.rint(back.pixels * 255).astype(np.uint8), pixels)


def test_write_png_bad_shape_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(BgmatteError) as info:
        write_png(path, np.zeros((2, 2, 2), np.uint8))
    assert (
        str(info.value)
        == f"{path}: cannot write a PNG of shape (2, 2, 2); pass H×W×1, 3 or 4 pixels"
    )
    assert os.listdir(tmp_path) == []
