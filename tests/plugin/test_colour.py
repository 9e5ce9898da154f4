"""OpenColorIO colour management (bgmatte.plugin.colour)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.plugin import colour

OCIO_FIX = "point $OCIO at a valid config.ocio or unset it to use the built-in ACES studio config"

# A tiny OCIO v2 config: linear reference, an sRGB-encoded space, a data space.
MINI_CONFIG = """\
ocio_profile_version: 2

roles:
  default: lin
  scene_linear: lin
  data: raw

displays:
  sRGB:
    - !<View> {name: Raw, colorspace: raw}

colorspaces:
  - !<ColorSpace>
    name: lin
    aliases: [linear_alias]
  - !<ColorSpace>
    name: sRGB
    from_scene_reference: !<ExponentWithLinearTransform>
      {gamma: 2.4, offset: 0.055, direction: inverse}
  - !<ColorSpace>
    name: raw
    isdata: true
"""


@pytest.fixture(autouse=True)
def _builtin_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts on the built-in config unless it sets $OCIO itself."""
    monkeypatch.delenv("OCIO", raising=False)


@pytest.fixture
def mini_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.ocio"
    path.write_text(MINI_CONFIG)
    monkeypatch.setenv("OCIO", str(path))
    return path


def test_builtin_config() -> None:
    assert colour.config() is colour.config()
    assert colour.config_name().startswith("studio-config")
    assert colour.working_space() == "ACEScg"
    names = colour.colorspaces()
    assert "ACEScg" in names
    assert "sRGB Encoded Rec.709 (sRGB)" in names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ACEScg", "ACEScg"),
        ("scene_linear", "ACEScg"),  # role
        ("srgb_tx", "sRGB Encoded Rec.709 (sRGB)"),  # alias
        ("sRGB - Texture", "sRGB Encoded Rec.709 (sRGB)"),
        ("lin_rec709", "Linear Rec.709 (sRGB)"),
    ],
)
def test_resolve(name: str, expected: str) -> None:
    assert colour.resolve(name, "--plate-colorspace") == expected


@pytest.mark.parametrize("name", ["not_a_space", ""])
def test_resolve_unknown(name: str) -> None:
    msg = (
        f"--plate-colorspace: unknown colour space '{name}' in OCIO config "
        f"{colour.config_name()}; pick one listed by `bgmatte info --colorspaces`"
    )
    with pytest.raises(BgmatteError, match=re.escape(msg)) as info:
        colour.resolve(name, "--plate-colorspace")
    assert str(info.value) == msg


def test_to_working_identity_returns_input() -> None:
    pixels = np.full((2, 3, 4), 8.0, np.float32)
    assert colour.to_working(pixels, "scene_linear", "plate") is pixels
    assert colour.to_working(pixels, "ACEScg", "plate") is pixels


def test_to_working_linear_keeps_hdr_and_extra_channels() -> None:
    pixels = np.zeros((2, 2, 5), np.float32)
    pixels[..., :3] = 8.0  # neutral grey far above 1.0
    pixels[1, 1, :3] = [-0.25, -0.25, -0.25]
    pixels[..., 3] = 0.5
    pixels[..., 4] = 42.0
    before = pixels.copy()
    out = colour.to_working(pixels, "lin_rec709", "plate")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(pixels, before)  # input untouched
    np.testing.assert_allclose(out[0, 0, :3], 8.0, rtol=1e-4)  # neutral stays neutral, no clip
    np.testing.assert_allclose(out[1, 1, :3], -0.25, rtol=1e-4)
    np.testing.assert_array_equal(out[..., 3], 0.5)
    np.testing.assert_array_equal(out[..., 4], 42.0)
    # Pure Rec.709 red in ACEScg (AP1): known matrix row, D65 -> ACES white by Bradford.
    red = colour.to_working(np.array([[[1.0, 0.0, 0.0]]], np.float32), "lin_rec709", "plate")
    np.testing.assert_allclose(red[0, 0], [0.6131, 0.0701, 0.0206], atol=2e-3)


def test_to_working_srgb_decodes() -> None:
    pixels = np.full((1, 2, 3), 0.5, np.float32)
    out = colour.to_working(pixels, "srgb_tx", "plate")
    # sRGB 0.5 -> 0.2140 linear; a neutral stays neutral in ACEScg.
    np.testing.assert_allclose(out, 0.21404, atol=1e-4)


def test_to_working_needs_rgb() -> None:
    with pytest.raises(BgmatteError) as info:
        colour.to_working(np.zeros((2, 2, 1), np.float32), "srgb_tx", "segmentation")
    assert str(info.value) == (
        "segmentation: cannot convert 1-channel pixels from 'srgb_tx'; colour conversion needs "
        "R, G and B; give an RGB image or set the input's colour space to the working space"
    )


def test_ocio_env_config(mini_config: Path) -> None:
    assert colour.config_name() == str(mini_config)  # unnamed config: its path
    assert colour.colorspaces() == ["lin", "sRGB", "raw"]
    assert colour.working_space() == "lin"
    assert colour.resolve("linear_alias", "plate") == "lin"
    out = colour.to_working(np.array([[[0.5, 1.0, 2.0]]], np.float32), "sRGB", "plate")
    np.testing.assert_allclose(out[0, 0], [0.21404, 1.0, 4.9538], rtol=1e-3)
    assert colour.default_colorspace(None, "uint8", "x.png") == "sRGB"
    msg = (
        f"plate: unknown colour space 'ACEScg' in OCIO config {mini_config}; "
        "pick one listed by `bgmatte info --colorspaces`"
    )
    with pytest.raises(BgmatteError, match=re.escape(msg)):
        colour.resolve("ACEScg", "plate")


def test_config_cached_per_ocio_value(mini_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = colour.config()
    assert colour.config() is custom
    monkeypatch.delenv("OCIO")
    assert colour.config() is not custom
    assert colour.working_space() == "ACEScg"
    monkeypatch.setenv("OCIO", str(mini_config))
    assert colour.config() is custom


@pytest.mark.parametrize("content", [None, "ocio_profile_version: 2\ncolorspaces: [garbage\n"])
def test_bad_ocio_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None
) -> None:
    path = tmp_path / "broken.ocio"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("OCIO", str(path))
    with pytest.raises(
        BgmatteError, match=re.escape(f"$OCIO: cannot load OCIO config {path} (")
    ) as info:
        colour.config()
    text = str(info.value)
    assert text.endswith(f"); {OCIO_FIX}")
    assert "\n" not in text


@pytest.mark.parametrize(
    ("fmt", "declared", "expected"),
    [
        ("half", None, "scene_linear"),
        ("float", None, "scene_linear"),
        ("half", "lin_ap1_scene", "ACEScg"),  # what OIIO 3 reads back for an ACEScg EXR
        ("float", "lin_rec709_scene", "Linear Rec.709 (sRGB)"),  # Radiance HDR
        ("float", "something_else", "scene_linear"),
        ("uint8", None, "sRGB Encoded Rec.709 (sRGB)"),
        ("uint8", "sRGB", "sRGB Encoded Rec.709 (sRGB)"),
        ("uint16", "srgb_rec709_scene", "sRGB Encoded Rec.709 (sRGB)"),
        ("uint8", "Linear", "scene_linear"),
        ("uint16", "linear", "scene_linear"),
        ("uint8", "g22_rec709_scene", "Gamma 2.2 Encoded Rec.709"),
    ],
)
def test_default_colorspace(fmt: str, declared: str | None, expected: str) -> None:
    assert colour.default_colorspace(declared, fmt, "x.png") == expected


def test_default_colorspace_unknown_declaration() -> None:
    with pytest.raises(BgmatteError) as info:
        colour.default_colorspace("MysteryGamma", "uint8", "plate")
    assert str(info.value) == (
        f"plate: the file declares colour space 'MysteryGamma', unknown in OCIO config "
        f"{colour.config_name()}; set the input's colour space explicitly"
    )


def test_caches_are_shared_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(colour, "_configs", {})
    monkeypatch.setattr(colour, "_processors", {})
    pixels = np.full((4, 4, 3), 0.5, np.float32)
    configs: list[object] = []
    results: list[np.ndarray] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            barrier.wait()
            configs.append(colour.config())
            results.append(colour.to_working(pixels, "srgb_tx", "plate"))
        except BaseException as exc:  # surfaced below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(c) for c in configs}) == 1
    assert len(colour._processors) == 1
    for r in results:
        np.testing.assert_array_equal(r, results[0])
