"""Alignment through the file host: a failed alignment's warning names the frame and file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bgmatte.errors import AlignmentWarning
from bgmatte.plugin.align import warning_message

H, W = 240, 320


def test_the_warning_names_the_frame(tmp_path: Path) -> None:
    from bgmatte.host_bridge.files import FileFetcher
    from bgmatte.host_bridge.imageio import write_exr
    from bgmatte.plugin.node import Node

    rng = np.random.default_rng(5)
    flat = np.full((H, W, 3), 0.4, np.float32)
    plate = flat * (1 + 0.01 * rng.standard_normal(flat.shape, dtype=np.float32))
    write_exr(str(tmp_path / "p.0007.exr"), [("", plate)], half=False)
    write_exr(str(tmp_path / "clean.exr"), [("", flat)], half=False)
    fetcher = FileFetcher(
        {"plate": str(tmp_path / "p.####.exr"), "clean_plate": str(tmp_path / "clean.exr")}
    )
    message = warning_message(
        "only 0 features found (need 20)", f"frame 7, plate {tmp_path / 'p.0007.exr'}"
    )
    assert message.startswith(f"clean_plate (frame 7, plate {tmp_path / 'p.0007.exr'}): cannot")
    with pytest.warns(AlignmentWarning, match=f"^{re.escape(message)}$"):
        Node({"engine": "classical", "align": "homography"}).render(7, fetcher)


def test_a_shadow_pass_without_alignment_is_one_error_line(cli: object, tmp_path: Path) -> None:
    from bgmatte.host_bridge.imageio import write_exr

    rng = np.random.default_rng(5)
    flat = np.full((H, W, 3), 0.4, np.float32)
    plate = flat * (1 + 0.01 * rng.standard_normal(flat.shape, dtype=np.float32))
    write_exr(str(tmp_path / "plate.exr"), [("", plate)], half=False)
    write_exr(str(tmp_path / "clean.exr"), [("", flat)], half=False)
    out = tmp_path / "out" / "m.exr"
    out.parent.mkdir()
    rc, stdout, err = cli(  # type: ignore[operator]
        "render", "--plate", str(tmp_path / "plate.exr"), "--clean-plate",
        str(tmp_path / "clean.exr"), "--out", str(out), "--align", "homography",
        "--pass", "shadow",
    )  # fmt: skip
    assert (rc, stdout) == (2, "")
    warning, error = err.splitlines()
    assert warning.startswith(f"bgmatte: warning: clean_plate (frame 1, plate {tmp_path}")
    assert error == (
        "bgmatte: error: clean_plate: the clean plate could not be aligned to the plate, so the "
        "shadow pass cannot be solved; give a clean plate that aligns (the same textured set, "
        "or --align off for a locked-off camera) or drop the shadow pass"
    )
    assert not out.exists() and list(out.parent.iterdir()) == []
