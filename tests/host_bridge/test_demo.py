"""``bgmatte demo``: the procedural shot end to end (about 2 s on two cores, so not slow)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Run = Callable[..., tuple[int, str, str]]  # the `cli` fixture
LAYERS = {"alpha", "foreground", "composite", "shadow", "light", "difference", "segmentation",
          "error"}  # fmt: skip


def test_demo_writes_exrs_and_contact_sheet_and_a_small_error(
    cli: Run, tmp_path: Path, kit: Any
) -> None:
    out = tmp_path / "demo"
    rc, stdout, err = cli("demo", "--out", str(out))

    assert (rc, err) == (0, "")
    assert kit.all_files(out) == {"plate.exr", "clean_plate.exr", "matte.exr", "contact_sheet.png"}
    # SAD of the classical engine against the shot's own ground truth: 6.7 when written.
    match = re.search(r"alpha vs ground truth: SAD (\d+\.\d+) ", stdout)
    assert match is not None, stdout
    assert 0.0 < float(match.group(1)) < 15.0
    recall = re.search(r"strand recall (\d+\.\d+)", stdout)
    assert recall is not None, stdout
    assert 0.0 < float(recall.group(1)) <= 1.0  # the demo's hair has thin strands

    spec, pixels = kit.exr_header(str(out / "matte.exr"))
    names = list(spec.channelnames)
    assert names[:4] == ["R", "G", "B", "A"]
    assert {n.split(".")[0] for n in names[4:]} == LAYERS
    assert {"alpha.A", "foreground.R", "composite.B", "error.A", "shadow.Y"} <= set(names)
    # The shot casts a shadow: the pass finds it and the matte leaves it to the background.
    shadow = re.search(r"cast shadow: pass vs truth MAE (\d+\.\d+), alpha there (\d+\.\d+)", stdout)
    assert shadow is not None, stdout
    assert float(shadow.group(1)) < 0.03 and float(shadow.group(2)) < 0.01
    # The primary is the premultiplied foreground (half precision, values above 1.0 kept).
    rgb = kit.channels(spec, pixels, "R", "G", "B")
    a = kit.channels(spec, pixels, "A")
    fg = kit.channels(spec, pixels, "foreground.R", "foreground.G", "foreground.B")
    np.testing.assert_allclose(rgb, a * fg, rtol=3 * 2.0**-11, atol=1e-5)
    np.testing.assert_array_equal(kit.channels(spec, pixels, "alpha.A"), a)
    assert fg.max() > 1.0
    plate_spec, _ = kit.exr_header(str(out / "plate.exr"))
    assert (plate_spec.width, plate_spec.height) == (spec.width, spec.height)
    assert kit.temp_files(out) == set()
