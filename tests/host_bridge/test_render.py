"""``bgmatte render``: stills, sequences, passes, headers, windows, resume, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bgmatte.host_bridge.imageio import write_exr
from bgmatte.plugin import colour
from bgmatte.plugin.params import PARAMS

# Half keeps 11 significant bits; a product of two halves, rounded again, is within ~3 ulp.
HALF_RTOL = 3 * 2.0**-11

Run = Callable[..., tuple[int, str, str]]  # the `cli` fixture


def _render(cli: Run, plate: str, clean: str, out: str, *extra: str) -> tuple[int, str, str]:
    return cli("render", "--plate", plate, "--clean-plate", clean, "--out", out, *extra)


def test_still_primary_is_premultiplied_rgba(cli: Run, shot: Any, kit: Any) -> None:
    out = shot.out()
    rc, stdout, err = _render(
        cli, shot.plate, shot.clean, out, "--pass", "foreground", "--pass", "alpha"
    )
    assert (rc, err) == (0, "")
    assert stdout.strip() == f"bgmatte: wrote 1 file(s) to {out}"
    assert kit.all_files(shot.folder / "out") == {"matte.exr"}

    spec, pixels = kit.exr_header(out)
    names = tuple(spec.channelnames)
    assert names[:4] == ("R", "G", "B", "A")
    assert sorted(names[4:]) == ["alpha.A", "foreground.B", "foreground.G", "foreground.R"]
    assert spec.format == "half"
    assert spec.alpha_channel == 3
    assert (spec.width, spec.height) == (64, 48)

    rgb = kit.channels(spec, pixels, "R", "G", "B")
    a = kit.channels(spec, pixels, "A")
    fg = kit.channels(spec, pixels, "foreground.R", "foreground.G", "foreground.B")
    np.testing.assert_allclose(rgb, a * fg, rtol=HALF_RTOL, atol=1e-6)
    np.testing.assert_array_equal(kit.channels(spec, pixels, "alpha.A"), a)
    # A usable matte: solid inside the subject, clear far from it, HDR foreground kept.
    assert a[20:29, 28:37].min() > 0.95
    assert a[:6, :6].max() < 0.05 and a[-6:, -6:].max() < 0.05
    np.testing.assert_allclose(fg[24, 32], [3.0, 0.6, 0.1], atol=0.02)


def test_float_flag_writes_32_bit(cli: Run, shot: Any, kit: Any) -> None:
    assert _render(cli, shot.plate, shot.clean, shot.out(), "--float")[0] == 0
    assert kit.exr_header(shot.out())[0].format == "float"


@pytest.mark.parametrize("token", ["####", "%04d", "$F4"])
def test_sequence_pattern_and_frame_step(cli: Run, tmp_path: Path, kit: Any, token: str) -> None:
    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])  # one still for every frame
    (tmp_path / "shot").mkdir()
    for frame in range(1, 6):  # the subject moves 4 px right per frame
        plate = kit.plate_over(clean, kit.subject_alpha(cx=16.0 + 4 * frame), seed=frame)
        write_exr(str(tmp_path / "shot" / f"plate.{frame:04d}.exr"), [("", plate)])
    out = str(tmp_path / "out" / f"matte.{token}.exr")

    rc, stdout, _ = _render(
        cli, str(tmp_path / "shot" / f"plate.{token}.exr"), str(tmp_path / "clean.exr"), out,
        "--frames", "1-5x2",
    )  # fmt: skip

    assert rc == 0
    assert stdout.strip() == f"bgmatte: wrote 3 file(s) to {out}"
    assert kit.all_files(tmp_path / "out") == {"matte.0001.exr", "matte.0003.exr", "matte.0005.exr"}
    for frame in (1, 3, 5):
        spec, pixels = kit.exr_header(str(tmp_path / "out" / f"matte.{frame:04d}.exr"))
        assert spec.get_string_attribute("bgmatte:frame") == str(frame)
        a = kit.channels(spec, pixels, "A")[..., 0]
        cx = 16 + 4 * frame
        assert a[24, cx] > 0.95, "each frame reads its own plate"
        assert a[24, cx + 14] < 0.05 and a[24, cx - 14] < 0.05


def test_sequence_without_frames_renders_every_plate_frame_on_disk(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])
    for frame in (1001, 1002, 1003):
        write_exr(
            str(tmp_path / f"plate.{frame}.exr"), [("", kit.plate_over(clean, kit.subject_alpha()))]
        )
    out = str(tmp_path / "out" / "matte.####.exr")
    rc, stdout, _ = _render(cli, str(tmp_path / "plate.####.exr"), str(tmp_path / "clean.exr"), out)
    assert rc == 0
    assert stdout.strip() == f"bgmatte: wrote 3 file(s) to {out}"
    assert kit.all_files(tmp_path / "out") == {f"matte.{f}.exr" for f in (1001, 1002, 1003)}


def test_temporal_window_renders_the_same_in_farm_chunks(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)], half=False)
    for frame in range(1, 6):  # the subject moves 1 px right per frame
        plate = kit.plate_over(clean, kit.subject_alpha(cx=28.0 + frame), seed=frame)
        write_exr(str(tmp_path / f"plate.{frame:04d}.exr"), [("", plate)], half=False)
    plate, clean_path = str(tmp_path / "plate.####.exr"), str(tmp_path / "clean.exr")
    flags = ("--engine", "classical", "--temporal-radius", "2", "--float")
    whole = str(tmp_path / "whole" / "m.####.exr")
    alone = str(tmp_path / "alone" / "m.####.exr")
    chunk = str(tmp_path / "chunk" / "m.####.exr")
    assert _render(cli, plate, clean_path, whole, *flags)[0] == 0
    assert _render(cli, plate, clean_path, alone, "--engine", "classical", "--float")[0] == 0
    for frames in ("5", "3-4", "1-2"):  # a farm's chunks, in any order
        assert _render(cli, plate, clean_path, chunk, *flags, "--frames", frames)[0] == 0
    for frame in range(1, 6):
        name = f"m.{frame:04d}.exr"
        got = kit.exr_header(str(tmp_path / "chunk" / name))[1]
        np.testing.assert_array_equal(got, kit.exr_header(str(tmp_path / "whole" / name))[1])
    centre = kit.exr_header(str(tmp_path / "whole" / "m.0003.exr"))[1]
    assert not np.array_equal(centre, kit.exr_header(str(tmp_path / "alone" / "m.0003.exr"))[1])


def test_preview_writes_a_video_and_a_contact_sheet(cli: Run, tmp_path: Path, kit: Any) -> None:
    import cv2

    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])
    for frame in range(1, 4):
        plate = kit.plate_over(clean, kit.subject_alpha(cx=20.0 + 6 * frame), seed=frame)
        write_exr(str(tmp_path / f"plate.{frame:04d}.exr"), [("", plate)])
    stem = str(tmp_path / "review" / "shot")
    (tmp_path / "review").mkdir()
    rc, stdout, _ = _render(
        cli, str(tmp_path / "plate.####.exr"), str(tmp_path / "clean.exr"),
        str(tmp_path / "out" / "m.####.exr"), "--engine", "classical", "--preview", stem,
    )  # fmt: skip
    assert rc == 0
    assert stdout.splitlines()[-1] == f"bgmatte: preview in {stem}.mp4 and {stem}.png"
    assert kit.all_files(tmp_path / "review") == {"shot.mp4", "shot.png"}
    video = cv2.VideoCapture(f"{stem}.mp4")
    frames = []
    while True:
        ok, img = video.read()
        if not ok:
            break
        frames.append(img)
    assert len(frames) == 3 and frames[0].shape[:2] == (48, 64)
    # The subject moves right: its bright core (over a grey checkerboard) moves with it.
    centres = [float(np.argmax(f[24, :, 2])) for f in frames]
    assert centres[0] < centres[1] < centres[2]
    sheet = cv2.imread(f"{stem}.png")
    assert sheet is not None and sheet.shape[0] > 3 * 200  # three frames, three rows


def _age(path: Path) -> int:
    """Set ``path``'s times to an hour ago (so a rewrite cannot hide in timer resolution)."""
    st = path.stat()
    old = st.st_mtime_ns - 3600 * 10**9
    os.utime(path, ns=(old, old))
    return old


def test_skip_existing_keeps_written_frames_and_renders_missing_ones(
    cli: Run, shot: Any, kit: Any
) -> None:
    out = shot.out("matte.####.exr")
    assert _render(cli, shot.plate, shot.clean, out, "--frames", "1-3")[0] == 0
    folder = shot.folder / "out"
    kept = {f: _age(folder / f"matte.{f:04d}.exr") for f in (1, 3)}
    (folder / "matte.0002.exr").unlink()

    rc, stdout, _ = _render(cli, shot.plate, shot.clean, out, "--frames", "1-3", "--skip-existing")

    assert rc == 0
    assert stdout.strip() == f"bgmatte: wrote 1 file(s) to {out}"
    assert kit.all_files(folder) == {"matte.0001.exr", "matte.0002.exr", "matte.0003.exr"}
    for frame, mtime in kept.items():
        assert (folder / f"matte.{frame:04d}.exr").stat().st_mtime_ns == mtime
    kit.exr_header(str(folder / "matte.0002.exr"))  # whole and readable

    # Without --skip-existing every frame is written again.
    assert _render(cli, shot.plate, shot.clean, out, "--frames", "1-3")[0] == 0
    for frame, mtime in kept.items():
        assert (folder / f"matte.{frame:04d}.exr").stat().st_mtime_ns != mtime


def test_data_window_and_display_window_are_kept(cli: Run, tmp_path: Path, kit: Any) -> None:
    # Display window 80×60 at (0, 0); the plate's data window is 64×48 at (5, 3). The clean
    # plate covers the whole display window, so it must be cropped to the plate's window.
    full = (0, 0, 80, 60)
    clean_full = kit.clean_plate(60, 80)
    clean = clean_full[3:51, 5:69]
    plate = kit.plate_over(clean, kit.subject_alpha())
    write_exr(str(tmp_path / "plate.exr"), [("", plate)], origin=(5, 3), full=full)
    write_exr(str(tmp_path / "clean.exr"), [("", clean_full)], full=full)
    # The same pixels with no windows at all, for reference.
    write_exr(str(tmp_path / "plain_plate.exr"), [("", plate)])
    write_exr(str(tmp_path / "plain_clean.exr"), [("", clean)])
    out = str(tmp_path / "out" / "matte.exr")
    ref = str(tmp_path / "out" / "plain.exr")

    assert _render(cli, str(tmp_path / "plate.exr"), str(tmp_path / "clean.exr"), out)[0] == 0
    assert (
        _render(cli, str(tmp_path / "plain_plate.exr"), str(tmp_path / "plain_clean.exr"), ref)[0]
        == 0
    )

    spec, pixels = kit.exr_header(out)
    assert (spec.x, spec.y, spec.width, spec.height) == (5, 3, 64, 48)
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == full
    ref_spec, ref_pixels = kit.exr_header(ref)
    assert (ref_spec.x, ref_spec.y, ref_spec.full_width, ref_spec.full_height) == (0, 0, 64, 48)
    # The clean plate lined up with the plate: the same matte as without windows (a clean
    # plate off by the window's offset would differ everywhere).
    np.testing.assert_array_equal(pixels, ref_pixels)


def test_header_states_params_inputs_and_working_space(cli: Run, shot: Any, kit: Any) -> None:
    rc, _, _ = _render(
        cli, shot.plate, shot.clean, shot.out(), "--threshold", "6", "--no-match-exposure"
    )
    assert rc == 0
    spec, _ = kit.exr_header(shot.out())
    params = json.loads(spec.get_string_attribute("bgmatte:params"))
    expected = {p.name: p.default for p in PARAMS} | {
        "threshold": 6.0,
        "match_exposure": False,
        "engine": "classical",
    }
    assert params == expected
    inputs = json.loads(spec.get_string_attribute("bgmatte:inputs"))
    assert inputs == {"plate": shot.plate, "clean_plate": shot.clean}
    working = colour.working_space()
    assert working == "ACEScg"
    assert spec.get_string_attribute("bgmatte:workingSpace") == working
    # OpenEXR's colorInteropID, which readers take the colour space from (OIIO's name for it)
    assert spec.get_string_attribute("oiio:ColorSpace") == colour.interop_id(working)
    assert colour.resolve(spec.get_string_attribute("oiio:ColorSpace"), "out") == working
    assert spec.get_string_attribute("bgmatte:ocioConfig") == colour.config_name()
    # OIIO may store the space under its interop name (lin_ap1_scene); it must mean ACEScg.
    stored = spec.get_string_attribute("oiio:ColorSpace")
    assert colour.resolve(stored, "output") == working


def test_output_alpha_makes_a_single_a_channel(cli: Run, shot: Any, kit: Any) -> None:
    assert _render(cli, shot.plate, shot.clean, shot.out("rgba.exr"))[0] == 0
    assert _render(cli, shot.plate, shot.clean, shot.out("alpha.exr"), "--output", "alpha")[0] == 0
    spec, pixels = kit.exr_header(shot.out("alpha.exr"))
    assert tuple(spec.channelnames) == ("A",)
    rgba_spec, rgba = kit.exr_header(shot.out("rgba.exr"))
    np.testing.assert_array_equal(pixels, kit.channels(rgba_spec, rgba, "A"))


def test_pass_all_without_background_writes_every_other_pass(cli: Run, shot: Any, kit: Any) -> None:
    assert _render(cli, shot.plate, shot.clean, shot.out(), "--pass", "all")[0] == 0
    names = kit.exr_header(shot.out())[0].channelnames
    layers = {n.split(".")[0] for n in names if "." in n}
    assert layers == {
        "alpha", "foreground", "shadow", "light", "difference", "segmentation", "error",
        "aligned_clean_plate",
    }  # fmt: skip
    assert {"shadow.Y", "light.R", "light.G", "light.B"} <= set(names)


def test_atomic_write_leaves_no_temp_files(cli: Run, shot: Any, kit: Any) -> None:
    out = shot.out("matte.####.exr")
    assert _render(cli, shot.plate, shot.clean, out, "--frames", "1-2", "--pass", "all")[0] == 0
    assert kit.all_files(shot.folder / "out") == {"matte.0001.exr", "matte.0002.exr"}
    assert kit.temp_files(shot.folder) == set()


def test_output_permissions_follow_the_umask(cli: Run, shot: Any, kit: Any) -> None:
    old = os.umask(0o022)
    try:
        assert _render(cli, shot.plate, shot.clean, shot.out())[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(shot.out()).st_mode) == 0o644
