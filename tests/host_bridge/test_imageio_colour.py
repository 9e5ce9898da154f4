"""The colour space a file fetcher assumes for a file that names none (colorspace='auto')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bgmatte.host_bridge.files import file_colorspace
from bgmatte.host_bridge.imageio import read_image, write_exr
from bgmatte.plugin.display import write_png


def test_default_colorspace_from_real_files(tmp_path: Path) -> None:
    write_png(str(tmp_path / "a.png"), np.zeros((2, 2, 3), np.uint8))
    png = read_image(str(tmp_path / "a.png"), "plate")
    assert file_colorspace(png, "plate") == "sRGB Encoded Rec.709 (sRGB)"
    write_exr(str(tmp_path / "a.exr"), [("", np.zeros((2, 2, 3), np.float32))])
    exr = read_image(str(tmp_path / "a.exr"), "plate")
    assert file_colorspace(exr, "plate") == "scene_linear"
