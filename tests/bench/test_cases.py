"""``bgmatte bench cases`` on tiny mattes and backgrounds made here: the same seed gives the
same pixels; the cast shadow is in the plate only, never in alpha_gt; the clean plate is the
background at the recorded exposure and white balance; ``bench quality`` reads the cases."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from scipy import ndimage

from bgmatte.bench import cases
from bgmatte.bench.quality import find_cases, quality
from bgmatte.host_bridge.cli import main
from bgmatte.host_bridge.imageio import write_exr

pytest.importorskip("pymatting")  # the foreground estimate; in the `test` and `train` extras

_FILES = ("plate", "clean_plate", "alpha_gt", "fg_gt")


def _make_data(root: Path) -> Path:
    """Two 60×80 mattes (a soft disc, a soft square) and two smooth HDR backgrounds."""
    (root / "mattes" / "input").mkdir(parents=True)
    (root / "mattes" / "gt").mkdir(parents=True)
    (root / "backgrounds").mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:60, 0:80].astype(np.float32)
    shapes = {
        "GTa": (np.hypot(xx - 36, yy - 26) < 14).astype(np.float32),
        "GTb": ((abs(xx - 44) < 12) & (abs(yy - 30) < 12)).astype(np.float32),
    }
    for name, shape in shapes.items():
        alpha = ndimage.gaussian_filter(shape, 1.0)
        colour = np.array([0.2, 0.45, 0.85], np.float32) * (0.9 + 0.1 * rng.random((60, 80, 1)))
        image = alpha[..., None] * colour + (1 - alpha[..., None]) * [0.3, 0.6, 0.3]
        cv2.imwrite(str(root / "mattes" / "input" / f"{name}.png"), np.uint8(image * 255 + 0.5))
        cv2.imwrite(str(root / "mattes" / "gt" / f"{name}.png"), np.uint8(alpha * 255 + 0.5))
    wave = 1.0 + 0.02 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 7.0)[..., None]
    write_exr(str(root / "backgrounds" / "One.exr"), [("", wave * [0.5, 0.4, 0.3])])
    write_exr(str(root / "backgrounds" / "Two.exr"), [("", wave * [0.3, 0.4, 0.6])])
    return root


def _read(path: Path) -> np.ndarray:
    return oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT)


def _build(data: Path, out: Path, seed: int) -> list[dict]:
    return cases.build_cases(str(data), str(out), 2, seed, 64, ["GTa", "GTb"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cases")
    data = _make_data(root / "data")
    args = ["bench", "cases", "--out", str(root / "out"), "--data", str(data)]
    assert (
        main([*args, "--count", "2", "--seed", "11", "--long-side", "64", "--mattes", "GTa,GTb"])
        == 0
    )
    return data, root / "out"


def test_the_set_is_in_the_case_format_bench_quality_reads(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = built
    folders = find_cases([str(out)])
    assert [f.name for f in folders] == [
        "val01_gta_one_shadow_camouflage",
        "val02_gtb_two_misalign",
    ]
    for folder in folders:
        for name, channels, fmt in (
            ("plate", ("R", "G", "B"), "half"),
            ("clean_plate", ("R", "G", "B"), "half"),
            ("alpha_gt", ("A",), "float"),
            ("fg_gt", ("R", "G", "B"), "half"),
        ):
            spec = oiio.ImageBuf(str(folder / f"{name}.exr")).spec()
            assert (spec.channelnames, str(spec.format)) == (channels, fmt)
            assert (spec.width, spec.height) == (64, 48)
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["seed"] in (11, 12) and meta["size_wh"] == [64, 48]
        assert {"crop_xywh", "exposure_gain", "fg_bg_cbrt_colour_distance_near_subject"} <= set(
            meta["background"]
        )
        assert {"exposure_stops", "white_balance_gains_rgb", "noise", "misalign"} <= set(
            meta["perturbation"]
        )
    rows = quality([str(out)], ["classical"], {})
    assert len(rows) == 2 and all(np.isfinite(r["sad"]) and r["sad"] >= 0 for r in rows)
    assert "| val02_gtb_two_misalign | classical |" in capsys.readouterr().out


def test_the_same_seed_gives_the_same_pixels(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = built
    rows = _build(data, tmp_path / "again", 11)
    assert [(r["shadow"], r["camouflage"]) for r in rows] == [(True, True), (False, False)]
    assert "| val01_gta_one_shadow_camouflage | GTa | One | yes | yes |" in capsys.readouterr().out
    _build(data, tmp_path / "other", 12)
    for folder in find_cases([str(out)]):
        for name in _FILES:
            first = _read(folder / f"{name}.exr")
            again = _read(tmp_path / "again" / folder.name / f"{name}.exr")
            assert first.tobytes() == again.tobytes(), (folder.name, name)
        meta = (folder / "meta.json").read_text()
        assert meta == (tmp_path / "again" / folder.name / "meta.json").read_text()
    other = tmp_path / "other" / "val01_gta_one_shadow_camouflage" / "plate.exr"
    assert _read(other).tobytes() != _read(out / other.parent.name / "plate.exr").tobytes()


def _capture(meta: dict) -> np.ndarray:
    pert = meta["perturbation"]
    return 2.0 ** pert["exposure_stops"] * np.asarray(pert["white_balance_gains_rgb"])


def test_the_shadow_darkens_the_plate_only_and_alpha_gt_stays_the_matte(
    built: tuple[Path, Path],
) -> None:
    data, out = built
    folder = out / "val01_gta_one_shadow_camouflage"
    meta = json.loads((folder / "meta.json").read_text())
    alpha = _read(folder / "alpha_gt.exr")[..., 0]
    # alpha_gt is the matte itself: the shadow adds nothing to it
    assert np.array_equal(alpha, cases.load_subject(data, "GTa", 64).alpha)
    shadow = cases.shadow_map(alpha, meta["perturbation"]["shadow_in_plate_only"])[..., 1]
    dark = (shadow < 0.8) & (alpha == 0)
    clear = (shadow > 0.999) & (ndimage.maximum_filter(alpha, 5) == 0)
    assert dark.sum() >= 10 and clear.sum() >= 200
    assert np.all(alpha[dark] == 0)
    # the plate over the clean plate (its capture undone) is the shadow there, 1 elsewhere
    ratio = _read(folder / "plate.exr") / (_read(folder / "clean_plate.exr") / _capture(meta))
    assert np.median(ratio[dark]) == pytest.approx(np.median(shadow[dark]), abs=0.05)
    assert np.median(ratio[clear]) == pytest.approx(1.0, abs=0.02)
    camouflage = meta["background"]["camouflage"]
    before = camouflage["fg_bg_cbrt_colour_distance_before_tint"]
    assert meta["background"]["fg_bg_cbrt_colour_distance_near_subject"] < before


@pytest.mark.parametrize("name", ["val01_gta_one_shadow_camouflage", "val02_gtb_two_misalign"])
def test_the_clean_plate_is_the_background_at_the_recorded_exposure_and_balance(
    built: tuple[Path, Path], name: str
) -> None:
    _, out = built
    folder = out / name
    meta = json.loads((folder / "meta.json").read_text())
    alpha = _read(folder / "alpha_gt.exr")[..., 0]
    clear = ndimage.maximum_filter(alpha, 5) == 0
    if "shadow_in_plate_only" in meta["perturbation"]:
        shadow = cases.shadow_map(alpha, meta["perturbation"]["shadow_in_plate_only"])
        clear &= shadow[..., 1] > 0.999
    plate = _read(folder / "plate.exr")[clear]
    clean = _read(folder / "clean_plate.exr")[clear]
    measured = clean.sum(axis=0) / plate.sum(axis=0)
    assert measured == pytest.approx(_capture(meta), rel=0.006)
    mis = meta["perturbation"]["misalign"]
    shift = np.hypot(mis["dx_px"], mis["dy_px"])
    assert (1.0 <= shift <= 3.0) if name.endswith("misalign") else (shift < 0.8)
