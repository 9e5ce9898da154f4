"""OpenImageIO read/write (bgmatte.host_bridge.imageio): round trips, windows, layers, errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.imageio import read_image, write_exr

READ_FIX = "re-export the file; it looks truncated or corrupt"
WRITE_FIX = "check that the folder exists and is writable"
# Half keeps 11 significant bits: relative error <= 2**-11.
RTOL = {True: 2.0**-11, False: 0.0}


def _hdr_pixels(h: int = 6, w: int = 8, c: int = 4, seed: int = 0) -> np.ndarray:
    """Pixels with values far above 1.0 and below 0.0, as scene-linear renders have."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((h, w, c)) * 20.0).astype(np.float32)


def _spec_of(path: Path) -> oiio.ImageSpec:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    inp.close()
    return spec


def _write_with_oiio(path: Path, pixels: np.ndarray, fmt: str, names: tuple[str, ...]) -> None:
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    spec.channelnames = names
    out = oiio.ImageOutput.create(str(path))
    assert out is not None
    assert out.open(str(path), spec)
    assert out.write_image(np.ascontiguousarray(pixels))
    assert out.close()


@pytest.mark.parametrize("half", [True, False])
def test_round_trip_keeps_hdr_and_negative_values(tmp_path: Path, half: bool) -> None:
    pixels = _hdr_pixels()
    pixels[0, 0] = [8.0, -0.5, 1000.0, 1.0]
    path = tmp_path / "rt.exr"
    write_exr(str(path), [("", pixels)], half=half)
    image = read_image(str(path), "plate")
    assert image.pixels.dtype == np.float32
    assert image.channel_names == ("R", "G", "B", "A")
    assert image.pixel_format == ("half" if half else "float")
    np.testing.assert_allclose(image.pixels, pixels, rtol=RTOL[half], atol=0)
    np.testing.assert_array_equal(image.pixels[0, 0], [8.0, -0.5, 1000.0, 1.0])
    assert _spec_of(path).get_string_attribute("compression") == "zip"


def test_data_window_and_display_window_round_trip(tmp_path: Path) -> None:
    pixels = _hdr_pixels(h=5, w=7, c=3)
    path = tmp_path / "win.exr"
    write_exr(str(path), [("", pixels)], origin=(10, 20), full=(0, 0, 64, 48))
    image = read_image(str(path), "plate")
    assert image.origin == (10, 20)
    assert image.full == (0, 0, 64, 48)
    assert image.pixels.shape == (5, 7, 3)
    # Default display window is the data window.
    write_exr(str(path), [("", pixels)], origin=(3, 4))
    assert read_image(str(path), "plate").full == (3, 4, 7, 5)


def test_layer_channel_names(tmp_path: Path) -> None:
    h, w = 4, 5
    path = tmp_path / "layers.exr"
    layers = [
        ("", np.ones((h, w, 4), np.float32)),
        ("foreground", np.full((h, w, 3), 2.0, np.float32)),
        ("alpha", np.full((h, w), 0.5, np.float32)),
        ("composite", np.full((h, w, 4), 3.0, np.float32)),
        ("error", np.full((h, w, 1), 0.25, np.float32)),
    ]
    write_exr(
        str(path),
        layers,
        colorspace="ACEScg",
        attributes={"bgmatte/ocio_config": "studio-config"},
    )
    spec = _spec_of(path)
    expected = {
        "R", "G", "B", "A",
        "foreground.R", "foreground.G", "foreground.B",
        "alpha.A",
        "composite.R", "composite.G", "composite.B", "composite.A",
        "error.A",
    }  # fmt: skip
    assert set(spec.channelnames) == expected
    assert len(spec.channelnames) == len(expected)
    # OIIO >= 3.0 stores a known space as its colour interop ID (ACEScg -> lin_ap1_scene).
    assert spec.get_string_attribute("oiio:ColorSpace") in ("ACEScg", "lin_ap1_scene")
    assert spec.get_string_attribute("bgmatte/ocio_config") == "studio-config"

    image = read_image(str(path), "plate")
    assert image.colorspace in ("ACEScg", "lin_ap1_scene")
    assert image.channel_names[:4] == ("R", "G", "B", "A")
    np.testing.assert_array_equal(image.pixels[:, :, :4], 1.0)
    for name, value in [("foreground.G", 2.0), ("alpha.A", 0.5), ("error.A", 0.25)]:
        np.testing.assert_array_equal(image.pixels[:, :, image.channel_names.index(name)], value)


def test_single_channel_stays_single(tmp_path: Path) -> None:
    path = tmp_path / "matte.exr"
    write_exr(str(path), [("", np.full((3, 4), 0.75, np.float32))])
    image = read_image(str(path), "segmentation")
    assert image.channel_names == ("A",)
    assert image.pixels.shape == (3, 4, 1)
    path_y = tmp_path / "y.tif"
    _write_with_oiio(path_y, np.full((3, 4, 1), 0.5, np.float32), "float", ("Y",))
    assert read_image(str(path_y), "segmentation").channel_names == ("Y",)


def test_rgba_moved_first(tmp_path: Path) -> None:
    path = tmp_path / "order.exr"
    names = ("depth.Z", "A", "B", "G", "R")
    pixels = np.stack([np.full((2, 2), v, np.float32) for v in (9, 4, 3, 2, 1)], axis=2)
    _write_with_oiio(path, pixels, "float", names)
    image = read_image(str(path), "plate")
    assert image.channel_names == ("R", "G", "B", "A", "depth.Z")
    np.testing.assert_array_equal(image.pixels[0, 0], [1, 2, 3, 4, 9])


@pytest.mark.parametrize(
    ("ext", "fmt"), [("png", "uint8"), ("png", "uint16"), ("tif", "uint8"), ("jpg", "uint8")]
)
def test_integer_files_read_as_stored(tmp_path: Path, ext: str, fmt: str) -> None:
    path = tmp_path / f"img.{ext}"
    pixels = np.zeros((4, 4, 3), np.float32)
    pixels[..., 0] = 1.0
    pixels[..., 1] = 0.5
    _write_with_oiio(path, pixels, fmt, ("R", "G", "B"))
    image = read_image(str(path), "plate")
    assert image.pixel_format == fmt
    assert image.channel_names == ("R", "G", "B")
    assert image.pixels.dtype == np.float32
    # Still display-encoded: 0.5 stays about 0.5 (no sRGB decode), 1.0 stays 1.0.
    atol = 0.03 if ext == "jpg" else 1 / 255
    np.testing.assert_allclose(image.pixels[..., 1], 0.5, atol=atol)
    np.testing.assert_allclose(image.pixels[..., 0], 1.0, atol=atol)


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.0001.exr")
    msg = f"plate: file not found: {path}; check the path and frame number"
    with pytest.raises(BgmatteError, match=re.escape(msg)) as info:
        read_image(path, "plate")
    assert str(info.value) == msg


def test_truncated_exr(tmp_path: Path) -> None:
    path = tmp_path / "cut.exr"
    write_exr(str(path), [("", _hdr_pixels(h=64, w=64))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # The header survives, so opening alone succeeds: the failure only shows on reading pixels.
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None
    inp.close()
    with pytest.raises(BgmatteError) as info:
        read_image(str(path), "clean_plate")
    text = str(info.value)
    assert text.startswith(f"clean_plate: cannot read {path} (")
    assert text.endswith(f"); {READ_FIX}")
    assert "\n" not in text


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.exr"
    path.write_bytes(b"not an image at all" * 10)
    with pytest.raises(BgmatteError, match=re.escape(f"plate: cannot read {path} (")) as info:
        read_image(str(path), "plate")
    assert str(info.value).endswith(f"; {READ_FIX}")
    assert "\n" not in str(info.value)


def test_write_missing_folder_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "no_such_dir" / "out.exr"
    msg = f"--out: cannot write {path} (folder {path.parent} does not exist); {WRITE_FIX}"
    with pytest.raises(BgmatteError) as info:
        write_exr(str(path), [("", np.zeros((2, 2, 4), np.float32))])
    assert str(info.value) == msg
    assert not path.parent.exists()


def test_failed_write_removes_temp_and_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.exr"
    write_exr(str(path), [("", np.ones((2, 2, 4), np.float32))])
    before = path.read_bytes()
    with pytest.raises(BgmatteError) as info:
        write_exr(str(path), [("", np.ones((2, 2, 2), np.float32))])
    assert str(info.value) == (
        f"--out: cannot write {path} (layer '' has 2 channels; expected 1, 3 or 4); {WRITE_FIX}"
    )
    # A failure inside the writer itself: the target is a folder, so the rename fails.
    folder = tmp_path / "a_folder.exr"
    folder.mkdir()
    with pytest.raises(BgmatteError, match=re.escape(f"--out: cannot write {folder} (")):
        write_exr(str(folder), [("", np.ones((2, 2, 4), np.float32))])
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a_folder.exr", "out.exr"]


def test_write_rejects_mismatched_layers(tmp_path: Path) -> None:
    path = tmp_path / "bad.exr"
    with pytest.raises(BgmatteError) as info:
        write_exr(str(path), [("", np.ones((2, 2, 4))), ("alpha", np.ones((3, 2, 1)))])
    assert str(info.value) == (
        f"--out: cannot write {path} (layer 'alpha' is 2x3, the first is 2x2); {WRITE_FIX}"
    )
    assert not path.exists()
