"""Frame patterns and frame ranges (bgmatte.host_bridge.sequence)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.sequence import find_frames, frame_path, has_pattern, parse_frames


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("plate.####.exr", True),
        ("plate.#.exr", True),
        ("plate.%04d.exr", True),
        ("plate.%d.exr", True),
        ("plate.$F4.exr", True),
        ("plate.$F.exr", True),
        ("plate.1001.exr", False),
        ("plate.exr", False),
        ("50%.exr", False),
    ],
)
def test_has_pattern(path: str, expected: bool) -> None:
    assert has_pattern(path) is expected


@pytest.mark.parametrize(
    ("pattern", "frame", "expected"),
    [
        ("a.####.exr", 7, "a.0007.exr"),
        ("a.##.exr", 7, "a.07.exr"),
        ("a.#.exr", 7, "a.7.exr"),
        ("a.####.exr", 12345, "a.12345.exr"),
        ("a.%04d.exr", 42, "a.0042.exr"),
        ("a.%d.exr", 42, "a.42.exr"),
        ("a.$F4.exr", 42, "a.0042.exr"),
        ("a.$F.exr", 42, "a.42.exr"),
        ("shot_####/a.####.exr", 3, "shot_0003/a.0003.exr"),
        ("still.exr", 5, "still.exr"),
    ],
)
def test_frame_path(pattern: str, frame: int, expected: str) -> None:
    assert frame_path(pattern, frame) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
        ("1-20x2", list(range(1, 20, 2))),
        ("7", [7]),
        ("1,3,10-12", [1, 3, 10, 11, 12]),
        (" 10-12 , 1 ", [1, 10, 11, 12]),
        ("5-5", [5]),
        ("1-5,3", [1, 2, 3, 4, 5]),
    ],
)
def test_parse_frames(spec: str, expected: list[int]) -> None:
    assert parse_frames(spec) == expected


@pytest.mark.parametrize("spec", ["abc", "1-", "1--5", "1-5x", "1,,2", "1.5", "-3", "1-5y2"])
def test_parse_frames_unreadable(spec: str) -> None:
    msg = f"--frames: cannot read frame range '{spec}'; write it as 1001-1100, 1-20x2 or 1,5,9"
    with pytest.raises(BgmatteError, match=re.escape(msg)) as info:
        parse_frames(spec)
    assert str(info.value) == msg


def test_parse_frames_empty() -> None:
    with pytest.raises(BgmatteError) as info:
        parse_frames("  ")
    assert str(info.value) == "--frames: no frames given; write it as 1001-1100, 1-20x2 or 1,5,9"


def test_parse_frames_reversed() -> None:
    with pytest.raises(BgmatteError) as info:
        parse_frames("1,1100-1001")
    assert str(info.value) == (
        "--frames: frame range '1100-1001' runs backwards; write the first frame first, "
        "e.g. 1001-1100"
    )


def test_parse_frames_zero_step() -> None:
    with pytest.raises(BgmatteError) as info:
        parse_frames("1-20x0")
    assert (
        str(info.value) == "--frames: frame step in '1-20x0' must be 1 or more; write it as 1-20x2"
    )


def test_find_frames(tmp_path: Path) -> None:
    for name in ["a.0003.exr", "a.0001.exr", "a.0010.exr", "a.010.exr", "a.0002.png", "b.0004.exr"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".a.0005.exr.x.tmp.exr").write_bytes(b"")
    assert find_frames(str(tmp_path / "a.####.exr")) == [1, 3, 10]
    assert find_frames(str(tmp_path / "a.%04d.exr")) == [1, 3, 10]
    assert find_frames(str(tmp_path / "a.$F.exr")) == []
    assert find_frames(str(tmp_path / "c.####.exr")) == []
    assert find_frames(str(tmp_path / "a.0001.exr")) == []


def test_find_frames_unpadded_and_glob_characters(tmp_path: Path) -> None:
    folder = tmp_path / "shot[1]"
    folder.mkdir()
    for frame in (9, 10, 11):
        (folder / f"p_{frame}.exr").write_bytes(b"")
    (folder / "p_010.exr").write_bytes(b"")
    assert find_frames(str(folder / "p_$F.exr")) == [9, 10, 11]
    assert find_frames(str(folder / "p_%d.exr")) == [9, 10, 11]
