"""Data and display windows (host_bridge/windows.py): how every input lines up with the plate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge import windows
from bgmatte.host_bridge.files import FileFetcher
from bgmatte.host_bridge.imageio import write_exr

Run = Callable[..., tuple[int, str, str]]  # the `cli` fixture


def test_place_crops_what_lies_outside_and_repeats_edges_where_nothing_is() -> None:
    pixels = np.arange(12, dtype=np.float32).reshape(3, 4, 1)  # data window x 2..5, y 1..3
    placed = windows.place(pixels, (2, 1, 4, 3), (3, 0, 4, 2), "clean_plate c.exr")
    # target columns 3..6 → source columns 1, 2, 3, 3 (edge); rows 0..1 → 0 (edge), 0
    np.testing.assert_array_equal(placed[..., 0], [[1, 2, 3, 3], [1, 2, 3, 3]])
    assert windows.place(pixels, (2, 1, 4, 3), (2, 1, 4, 3), "x") is pixels


def test_no_overlap_and_another_format_are_named() -> None:
    with pytest.raises(BgmatteError) as info:
        windows.place(np.zeros((2, 2, 3)), (10, 10, 2, 2), (0, 0, 4, 4), "clean_plate c.exr")
    assert str(info.value) == (
        "clean_plate c.exr: its data window (10, 10, 2, 2) does not overlap the plate's "
        "(0, 0, 4, 4) (x, y, width, height); give it pixels where the plate has them, or "
        "reformat it to the plate"
    )
    with pytest.raises(BgmatteError) as info:
        windows.same_format((-8, -8, 80, 64), (0, 0, 64, 48), "background b.exr", "p.exr")
    assert str(info.value) == (
        "background b.exr: has display window (-8, -8, 80, 64) but the plate p.exr has "
        "(0, 0, 64, 48) (x, y, width, height); reformat it to the plate's format"
    )


@pytest.mark.parametrize("name", ["clean_plate", "segmentation", "background"])
def test_an_input_smaller_than_the_plate_is_placed_with_its_edges_repeated(
    tmp_path: Path, kit: Any, name: str
) -> None:
    full = (0, 0, 64, 48)
    whole = kit.clean_plate(48, 64)
    write_exr(str(tmp_path / "plate.exr"), [("", whole)], full=full, half=False)
    part = whole[4:40, 6:60]  # data window (6, 4, 54, 36)
    write_exr(str(tmp_path / "in.exr"), [("", part)], origin=(6, 4), full=full, half=False)
    paths = {"plate": str(tmp_path / "plate.exr"), "clean_plate": str(tmp_path / "plate.exr")}
    got = FileFetcher({**paths, name: str(tmp_path / "in.exr")}).fetch(name, 1)
    assert got is not None
    rows = np.clip(np.arange(48) - 4, 0, 35)
    cols = np.clip(np.arange(64) - 6, 0, 53)
    np.testing.assert_array_equal(got.pixels, part[np.ix_(rows, cols)])


def test_the_command_line_names_a_clean_plate_of_another_format(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    plate, clean = tmp_path / "plate.exr", tmp_path / "clean.exr"
    write_exr(str(plate), [("", kit.clean_plate(48, 64))])
    write_exr(str(clean), [("", kit.clean_plate(60, 80))])
    out = tmp_path / "out.exr"
    rc, _, err = cli("render", "--plate", str(plate), "--clean-plate", str(clean),
                     "--out", str(out))  # fmt: skip
    assert rc == 2 and not out.exists()
    assert err == (
        f"bgmatte: error: clean_plate {clean}: is 80x60 but the plate is 64x48; reformat it to "
        "the plate's resolution before matting\n"
    )
