"""Bad input on the command line: exit status 2, one exact line on stderr, no output file.

Each test renders into ``<tmp>/out`` and checks that nothing at all was written there (no
frame, no temp file), and that no temp file appeared beside the inputs either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.host_bridge.imageio import write_exr
from bgmatte.plugin import colour

Run = Callable[..., tuple[int, str, str]]  # the `cli` fixture
READ_FIX = "re-export the file; it looks truncated or corrupt"
NAN_FIX = "fix the source, or set --nan to 'zero' to replace them with 0"
FRAMES_FIX = "write it as 1001-1100, 1-20x2 or 1,5,9"
RANGE_FIX = "pass a value in range"


def _render(cli: Run, plate: str, clean: str, out: str, *extra: str) -> tuple[int, str, str]:
    return cli("render", "--plate", plate, "--clean-plate", clean, "--out", out, *extra)


def _fails(
    got: tuple[int, str, str], message: str, folder: Path, kit: Any, before: set[str]
) -> None:
    """Exit 2, exactly ``bgmatte: error: <message>`` on stderr, and no file written."""
    rc, stdout, err = got
    assert err == f"bgmatte: error: {message}\n"
    assert rc == 2
    assert stdout == ""
    assert kit.all_files(folder) == before, "no output and no temp file"
    assert not (folder / "out").exists() or kit.all_files(folder / "out") == set()


def test_clean_plate_of_another_size(cli: Run, shot: Any, kit: Any) -> None:
    small = str(shot.folder / "small.exr")
    write_exr(small, [("", kit.clean_plate(24, 32))])
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, small, shot.out())
    _fails(
        got,
        f"clean_plate {small}: is 32x24 but the plate is 64x48; "
        "reformat it to the plate's resolution before matting",
        shot.folder,
        kit,
        before,
    )


@pytest.mark.parametrize("missing", ["plate", "clean_plate"])
def test_missing_file(cli: Run, shot: Any, kit: Any, missing: str) -> None:
    gone = str(shot.folder / "gone.exr")
    plate, clean = (gone, shot.clean) if missing == "plate" else (shot.plate, gone)
    before = kit.all_files(shot.folder)
    got = _render(cli, plate, clean, shot.out())
    _fails(
        got,
        f"{missing}: file not found: {gone}; check the path and frame number",
        shot.folder,
        kit,
        before,
    )


def test_missing_frame_fails_before_any_frame_is_written(cli: Run, shot: Any, kit: Any) -> None:
    for frame in (1, 3):  # frame 2 is absent
        write_exr(str(shot.folder / f"plate.{frame:04d}.exr"), [("", shot.plate_pixels)])
    before = kit.all_files(shot.folder)
    got = _render(
        cli,
        str(shot.folder / "plate.####.exr"),
        shot.clean,
        shot.out("matte.####.exr"),
        "--frames",
        "1-3",
    )
    _fails(
        got,
        f"plate: file not found: {shot.folder / 'plate.0002.exr'}; check the path and frame number",
        shot.folder,
        kit,
        before,
    )


@pytest.mark.parametrize("damage", ["truncated", "not_an_image"])
def test_unreadable_exr(cli: Run, shot: Any, kit: Any, damage: str) -> None:
    bad = shot.folder / "bad.exr"
    data = Path(shot.plate).read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not an exr\n" * 50)
    before = kit.all_files(shot.folder)
    rc, stdout, err = _render(cli, str(bad), shot.clean, shot.out())
    # Our words exactly; in the brackets, OIIO's own first line (its wording varies by version).
    match = re.fullmatch(
        rf"bgmatte: error: plate: cannot read {re.escape(str(bad))} \(([^\n]+)\); "
        rf"{re.escape(READ_FIX)}\n",
        err,
    )
    assert match is not None, err
    if damage == "truncated" and oiio.__version__.startswith("3.2."):
        assert match.group(1) == "Some scanline chunks were missing or corrupted"
    _fails((rc, stdout, err), err.removeprefix("bgmatte: error: ")[:-1], shot.folder, kit, before)


def test_nan_pixels_name_the_count_and_nan_zero_renders(cli: Run, shot: Any, kit: Any) -> None:
    pixels = shot.plate_pixels.copy()
    pixels[0, 0, 0] = np.nan
    pixels[1, 1, :] = np.nan  # one pixel, however many of its channels are NaN
    pixels[40, 60, 2] = np.nan
    nan = str(shot.folder / "nan.exr")
    write_exr(nan, [("", pixels)], half=False)
    before = kit.all_files(shot.folder)

    got = _render(cli, nan, shot.clean, shot.out())
    _fails(got, f"plate {nan}: 3 pixels are NaN or Inf; {NAN_FIX}", shot.folder, kit, before)

    rc, _, err = _render(cli, nan, shot.clean, shot.out(), "--nan", "zero")
    assert (rc, err) == (0, "")
    _, out = kit.exr_header(shot.out())
    assert np.isfinite(out).all()
    assert kit.all_files(shot.folder / "out") == {"matte.exr"}


def test_inf_pixels_in_the_clean_plate(cli: Run, shot: Any, kit: Any) -> None:
    pixels = shot.clean_pixels.copy()
    pixels[5, 5, 2] = np.inf
    pixels[6, 6, 0] = -np.inf
    inf = str(shot.folder / "inf.exr")
    write_exr(inf, [("", pixels)], half=False)
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, inf, shot.out())
    _fails(got, f"clean_plate {inf}: 2 pixels are NaN or Inf; {NAN_FIX}", shot.folder, kit, before)


def test_two_channel_plate(cli: Run, shot: Any, kit: Any) -> None:
    two = str(shot.folder / "two.exr")
    spec = oiio.ImageSpec(64, 48, 2, oiio.HALF)
    spec.channelnames = ("R", "G")
    image = oiio.ImageOutput.create(two)
    assert image is not None and image.open(two, spec)
    assert image.write_image(np.ascontiguousarray(shot.plate_pixels[..., :2]))
    assert image.close()
    before = kit.all_files(shot.folder)
    got = _render(cli, two, shot.clean, shot.out())
    _fails(
        got,
        f"plate {two}: has 2 channels, expected 3 (RGB) or 4 (RGBA); "
        "write it as an RGB or RGBA image",
        shot.folder,
        kit,
        before,
    )


def test_unknown_colour_space(cli: Run, shot: Any, kit: Any) -> None:
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, shot.clean, shot.out(), "--colorspace", "nonsense")
    _fails(
        got,
        f"--colorspace: unknown colour space 'nonsense' in OCIO config "
        f"{colour.config_name()}; pick one listed by `bgmatte info --colorspaces`",
        shot.folder,
        kit,
        before,
    )


@pytest.mark.parametrize("spelling", ["same", "dotted", "clean_plate"])
def test_output_path_equal_to_an_input(cli: Run, shot: Any, kit: Any, spelling: str) -> None:
    (shot.folder / "sub").mkdir()
    out, name = {
        "same": (shot.plate, "plate"),
        "dotted": (str(shot.folder / "sub" / ".." / "plate.exr"), "plate"),
        "clean_plate": (shot.clean, "clean_plate"),
    }[spelling]
    before = kit.all_files(shot.folder)
    data = Path(shot.plate).read_bytes(), Path(shot.clean).read_bytes()
    got = _render(cli, shot.plate, shot.clean, out)
    _fails(
        got,
        f"--out: {out} would overwrite the {name} input; choose another output path",
        shot.folder,
        kit,
        before,
    )
    assert (Path(shot.plate).read_bytes(), Path(shot.clean).read_bytes()) == data


def test_several_frames_into_an_output_without_a_pattern(cli: Run, shot: Any, kit: Any) -> None:
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, shot.clean, shot.out(), "--frames", "1-3")
    _fails(
        got,
        f"--out: {shot.out()} has no frame pattern but 3 frames are rendered; "
        "put #### (or %04d, $F4) in the output path",
        shot.folder,
        kit,
        before,
    )


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ("abc", f"cannot read frame range 'abc'; {FRAMES_FIX}"),
        ("1-3,x", f"cannot read frame range '1-3,x'; {FRAMES_FIX}"),
        ("5-1", "frame range '5-1' runs backwards; write the first frame first, e.g. 1-5"),
        ("1-9x0", "frame step in '1-9x0' must be 1 or more; write it as 1-20x2"),
        ("", f"no frames given; {FRAMES_FIX}"),
    ],
)
def test_bad_frames(cli: Run, shot: Any, kit: Any, frames: str, message: str) -> None:
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, shot.clean, shot.out("m.####.exr"), "--frames", frames)
    _fails(got, f"--frames: {message}", shot.folder, kit, before)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--threshold", "1000", f"--threshold: 1000.0 is outside 0.5..50; {RANGE_FIX}"),
        ("--softness", "0", f"--softness: 0.0 is outside 0.5..100; {RANGE_FIX}"),
        ("--shift-tolerance", "7", f"--shift-tolerance: 7 is outside 0..3; {RANGE_FIX}"),
        ("--threshold", "nan", f"--threshold: nan is outside 0.5..50; {RANGE_FIX}"),
        ("--colorspace", "", "--colorspace: '' is not a non-empty string; pass a name"),
    ],
)
def test_param_out_of_range(
    cli: Run, shot: Any, kit: Any, flag: str, value: str, message: str
) -> None:
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, shot.clean, shot.out(), flag, value)
    _fails(got, message, shot.folder, kit, before)


def test_param_that_is_not_a_number_is_an_argparse_usage_error(
    cli: Run, shot: Any, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = kit.all_files(shot.folder)
    with pytest.raises(SystemExit) as exit_info:
        _render(cli, shot.plate, shot.clean, shot.out(), "--threshold", "abc")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "bgmatte render: error: argument --threshold: invalid float value: 'abc'"
    )
    assert kit.all_files(shot.folder) == before


def test_composite_pass_without_background(cli: Run, shot: Any, kit: Any) -> None:
    before = kit.all_files(shot.folder)
    got = _render(cli, shot.plate, shot.clean, shot.out(), "--pass", "composite")
    _fails(
        got,
        "background: is not connected; connect a background for the composite pass",
        shot.folder,
        kit,
        before,
    )


def _exr_declaring(path: Path, declared: bytes) -> Path:
    """An EXR whose colour-space declaration (OpenEXR's colorInteropID, which OIIO reads as
    oiio:ColorSpace) holds ``declared``, bytes that need not be text."""

    spec = oiio.ImageSpec(8, 6, 3, oiio.FLOAT)
    spec.attribute("colorInteropID", "Q" * len(declared))
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec)
    out.write_image(np.full((6, 8, 3), 0.5, np.float32))
    out.close()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"Q" * len(declared), declared, 1))
    return path


def test_a_colour_space_name_that_is_no_text_is_an_unknown_colour_space(
    cli: Run, tmp_path: Path
) -> None:
    bad = _exr_declaring(tmp_path / "plate.exr", b"\xff\xfe\xc3(QQQQQQ")
    out = tmp_path / "out.exr"
    rc, _, err = cli("render", "--plate", str(bad), "--clean-plate", str(bad), "--out", str(out))
    assert rc == 2
    assert err == (
        f"bgmatte: error: plate {bad}: the file declares colour space "
        "'\ufffd\ufffd\ufffd(QQQQQQ', "
        f"unknown in OCIO config {colour.config_name()}; set the input's colour space "
        "explicitly\n"
    )
    assert not out.exists()


def test_library_error_text_that_is_no_text_is_printed_with_replacements(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    plate = tmp_path / "plate.exr"
    plate.write_bytes(b"not an image")

    def undecodable() -> str:
        raise UnicodeDecodeError("utf-8", b"bad magic \xff here", 10, 11, "invalid start byte")

    monkeypatch.setattr(oiio, "geterror", undecodable)
    rc, _, err = cli("render", "--plate", str(plate), "--clean-plate", str(plate),
                     "--out", str(tmp_path / "o.exr"))  # fmt: skip
    assert rc == 2
    assert err.startswith(f"bgmatte: error: plate: cannot read {plate} (bad magic \ufffd here)")


def _declaring(path: Path, pixels: np.ndarray, declared: str | None) -> Path:
    attributes = {"colorInteropID": declared} if declared else None
    write_exr(str(path), [("", pixels)], half=False, attributes=attributes)
    return path


def test_inputs_read_as_different_colour_spaces_warn_once(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    pixels = kit.clean_plate()
    plate = _declaring(tmp_path / "plate.0001.exr", pixels, "lin_rec709")
    _declaring(tmp_path / "plate.0002.exr", pixels, "lin_rec709")
    clean = _declaring(tmp_path / "clean.exr", pixels, None)
    out = tmp_path / "out.####.exr"
    rc, _, err = cli("render", "--plate", str(tmp_path / "plate.####.exr"),
                     "--clean-plate", str(clean), "--out", str(out))  # fmt: skip
    assert rc == 0
    assert err == (
        f"bgmatte: warning: clean_plate {clean}: read as 'ACEScg' but the plate {plate} as "
        "'Linear Rec.709 (sRGB)', the colour spaces the files declare; if both are one "
        "camera's pictures, set --colorspace to read them as one space\n"
        f"bgmatte: warning: clean_plate {clean}: read as 'ACEScg' but the plate "
        f"{tmp_path / 'plate.0002.exr'} as 'Linear Rec.709 (sRGB)', the colour spaces the "
        "files declare; if both are one camera's pictures, set --colorspace to read them as "
        "one space\n"
    )
    rc, _, err = cli("render", "--plate", str(tmp_path / "plate.####.exr"),
                     "--clean-plate", str(clean), "--out", str(out), "--colorspace",
                     "lin_rec709")  # fmt: skip
    assert (rc, err) == (0, "")


def test_info_says_what_a_file_declares_and_how_it_is_read(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    declared = _declaring(tmp_path / "a.exr", kit.clean_plate(), "lin_rec709")
    bare = _declaring(tmp_path / "b.exr", kit.clean_plate(), None)
    rc, out, err = cli("info", str(declared), str(bare))
    assert (rc, err) == (0, "")
    assert out == (
        f"{declared}: 64x48 float, declares 'lin_rec709'; read as 'Linear Rec.709 (sRGB)'\n"
        f"{bare}: 64x48 float, declares nothing; read as 'ACEScg' (the working space)\n"
    )
    missing = tmp_path / "missing.exr"
    rc, out, err = cli("info", str(missing))
    assert rc == 2 and out == ""
    fix = "check the path and frame number"
    assert err == f"bgmatte: error: {missing}: file not found: {missing}; {fix}\n"
