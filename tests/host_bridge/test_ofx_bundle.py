"""The OpenFX bundle in two hosts: a small ctypes host of our own, and ofxhost-render.

Our host (:mod:`ofx_host`, next to this file) loads the built ``bgmatte.ofx`` into this
process (so the plug-in reuses the running interpreter), serves the OpenFX suites from Python,
and drives describe, describe-in-context, create-instance and render on generated arrays.
Outputs are compared with :func:`bgmatte.matte`. ``ofxhost-render`` (../shared/tools/ofxhost,
built on the OpenFX project's HostSupport library, not written by us) runs the bundle in a
separate process, where the plug-in starts its own interpreter.

Both skip visibly when the bundle was not built (BGMATTE_BUILD_OFX=OFF) or the tool is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bgmatte
from bgmatte.host_bridge import install_ofx
from bgmatte.host_bridge.imageio import read_image, write_exr

from .ofx_host import Host, Props

BUNDLE = install_ofx.bundle_path()
pytestmark = pytest.mark.skipif(
    BUNDLE is None,
    reason="OpenFX bundle not built (BGMATTE_BUILD_OFX=OFF, or no C++ compiler): pip install -e .",
)
OFXHOST = Path(
    os.environ.get("BGMATTE_OFXHOST")
    or Path(__file__).resolve().parents[3] / "shared" / "tools" / "ofxhost" / "ofxhost-render"
)
PLUGIN_ID = "org.bgmatte.BackgroundMatte"
H, W = 48, 64
TOL = 1e-5


# ---- fixtures ------------------------------------------------------------------------------
def _shot(h: int = H, w: int = W, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack([0.2 + 0.4 * x / w, 0.3 + 0.3 * y / h, 0.25 + 0.1 * (x + y) / (w + h)], -1)
    clean = (clean + 0.05 * rng.random((h, w, 3))).astype(np.float32)
    a = np.clip((12.0 - np.hypot(x - w / 2, y - h / 2)) / 4.0, 0, 1)[..., None]
    fg = np.array([3.0, 0.6, 0.1], np.float32)
    plate = a * fg + (1 - a) * clean + rng.normal(0, 0.003, clean.shape)
    return plate.astype(np.float32), clean


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.ones((*rgb.shape[:2], 1), np.float32)], -1)


@pytest.fixture(scope="module")
def host() -> Host:
    assert BUNDLE is not None
    return Host(install_ofx.binary_of(BUNDLE))


@pytest.fixture(scope="module")
def desc(host: Host) -> dict[str, Any]:
    return host.describe()


def _instance(
    host: Host,
    desc: dict[str, Any],
    plate: np.ndarray,
    clean: np.ndarray | None,
    origin: tuple[int, int] = (0, 0),
    **params: Any,
) -> int:
    inst = host.create(desc, **params)
    host.connect(inst, "Source", _rgba(plate), origin)
    host.connect(inst, "CleanPlate", None if clean is None else _rgba(clean), origin)
    h, w = plate.shape[:2]
    host.connect(inst, "Output", np.zeros((h, w, 4), np.float32), origin)
    return inst


# ---- our host ------------------------------------------------------------------------------
def test_describe_lists_clips_and_params_from_the_table(host: Host, desc: dict[str, Any]) -> None:
    from bgmatte.plugin.params import PARAMS

    props = host.props(desc["props"]).values
    assert host.plugin.pluginIdentifier.decode() == PLUGIN_ID
    assert props["OfxImageEffectPluginPropGrouping"] == [b"Keyer"]
    assert set(props["OfxImageEffectPropSupportedContexts"]) == {
        b"OfxImageEffectContextGeneral",
        b"OfxImageEffectContextFilter",
    }
    assert props["OfxImageEffectPropSupportsTiles"] == [1]
    assert list(desc["clips"]) == ["Source", "CleanPlate", "Segmentation", "Background", "Output"]
    optional = {
        n: host.props(host.objects[c]["props"]).values.get("OfxImageClipPropOptional", [0])[0]
        for n, c in desc["clips"].items()
    }
    assert optional == {
        "Source": 0,
        "CleanPlate": 0,
        "Segmentation": 1,
        "Background": 1,
        "Output": 0,
    }
    defined = host.objects[desc["params"]]
    assert list(defined) == [p.name for p in PARAMS]
    for p in PARAMS:
        values = host.props(defined[p.name]).values
        assert values["OfxPropLabel"] == [p.label.encode()]
        assert values["OfxParamPropHint"] == [p.hint.encode()]
        if p.range is not None:
            assert values["OfxParamPropMin"][0] == pytest.approx(p.range[0])
            assert values["OfxParamPropMax"][0] == pytest.approx(p.range[1])
        if p.choices is not None:
            assert values["OfxParamPropChoiceOption"] == [c.encode() for c in p.choices]
            assert values["OfxParamPropDefault"] == [p.choices.index(p.default)]


def test_render_matches_bgmatte_matte(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot()
    inst = _instance(host, desc, plate, clean)
    assert host.render(inst, (0, 0, W, H)) == 0, host.messages
    ref = bgmatte.matte(plate, clean).rgba
    assert np.abs(host.output(inst) - ref).max() <= TOL


def test_params_reach_the_node(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=3)
    inst = _instance(host, desc, plate, clean, output="alpha", threshold=6.0, shift_tolerance=0)
    assert host.render(inst, (0, 0, W, H)) == 0, host.messages
    ref = bgmatte.matte(plate, clean, threshold=6.0, shift_tolerance=0).alpha
    out = host.output(inst)
    assert np.abs(out - ref[..., None]).max() <= TOL  # alpha in every channel


def test_tiles_make_the_whole(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=4)
    inst = _instance(host, desc, plate, clean)
    assert host.render(inst, (0, 0, W // 2, H)) == 0, host.messages
    assert host.render(inst, (W // 2, 0, W, H)) == 0, host.messages
    tiled = host.output(inst)
    whole_inst = _instance(host, desc, plate, clean)
    assert host.render(whole_inst, (0, 0, W, H)) == 0
    assert np.array_equal(tiled, host.output(whole_inst))
    assert np.abs(tiled - bgmatte.matte(plate, clean).rgba).max() <= TOL


def test_bounds_off_the_origin_and_render_scale(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=5)
    inst = _instance(host, desc, plate, clean, origin=(10, -7))
    assert host.render(inst, (10, -7, 10 + W, -7 + H)) == 0, host.messages
    assert np.abs(host.output(inst) - bgmatte.matte(plate, clean).rgba).max() <= TOL
    half_plate, half_clean = _shot(H // 2, W // 2, seed=5)  # what a host gives at scale 0.5
    half = _instance(host, desc, half_plate, half_clean)
    assert host.render(half, (0, 0, W // 2, H // 2), scale=0.5) == 0, host.messages
    ref = bgmatte.matte(half_plate, half_clean).rgba
    assert np.abs(host.output(half) - ref).max() <= TOL


def test_optional_clips(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=6)
    background = np.full_like(plate, 0.25)
    inst = _instance(host, desc, plate, clean, output="composite")
    host.connect(inst, "Background", _rgba(background))
    host.connect(inst, "Segmentation", None)  # disconnected optional clip
    assert host.render(inst, (0, 0, W, H)) == 0, host.messages
    ref = bgmatte.matte(plate, clean, background=background).composite
    assert ref is not None
    assert np.abs(host.output(inst)[..., :3] - ref[..., :3]).max() <= TOL


def test_python_errors_become_error_status_and_message(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=7)
    plate[3, 4, 0] = np.nan
    inst = _instance(host, desc, plate, clean)
    host.messages.clear()
    assert host.render(inst, (0, 0, W, H)) == 1  # kOfxStatFailed
    assert host.messages and "plate: 1 pixel is NaN or Inf" in host.messages[-1]
    missing = _instance(host, desc, *_shot(seed=8)[:1], None)
    assert host.render(missing, (0, 0, W, H)) == 1
    assert "clean_plate: is not connected" in host.messages[-1]


def test_two_instances_on_two_threads(host: Host, desc: dict[str, Any]) -> None:
    shots = [_shot(seed=10), _shot(seed=11)]
    insts = [_instance(host, desc, p, c) for p, c in shots]
    status: list[int] = [-1, -1]

    def run(i: int) -> None:
        status[i] = host.render(insts[i], (0, 0, W, H))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert status == [0, 0], host.messages
    for inst, (plate, clean) in zip(insts, shots, strict=True):
        assert np.abs(host.output(inst) - bgmatte.matte(plate, clean).rgba).max() <= TOL


def _moving(frames: int = 5) -> Any:
    from bgmatte.bench.scenes.moving import make_moving_shot

    return make_moving_shot(frames, height=H, width=W, speed=0.5, seed=6)


def test_frames_needed_follow_the_temporal_radius(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=14)
    alone = _instance(host, desc, plate, clean)
    assert host.action("OfxImageEffectActionGetFramesNeeded", alone, Props(OfxPropTime=[7.0])) == 14
    window = _instance(host, desc, plate, clean, temporal_radius=2)
    out = Props()
    args = Props(OfxPropTime=[7.0])
    assert host.action("OfxImageEffectActionGetFramesNeeded", window, args, out) == 0
    for clip in ("Source", "CleanPlate", "Segmentation", "Background"):
        assert out.values[f"OfxImageClipPropFrameRange_{clip}"] == [5.0, 9.0]
    props = host.props(desc["props"]).values
    assert props["OfxImageEffectPropTemporalClipAccess"] == [1]
    assert props["OfxImageEffectInstancePropSequentialRender"] == [0]  # any order will do


def test_temporal_render_matches_the_node(host: Host, desc: dict[str, Any]) -> None:
    from bgmatte.host_bridge.arrays import ArrayFetcher
    from bgmatte.plugin.node import Node

    shot = _moving()
    plates = {i + 1: p for i, p in enumerate(shot.plates)}
    inst = host.create(desc, temporal_radius=1, engine="classical")
    host.connect_frames(inst, "Source", {f: _rgba(p) for f, p in plates.items()})
    host.connect(inst, "CleanPlate", _rgba(shot.clean_plate))
    host.connect(inst, "Output", np.zeros((H, W, 4), np.float32))
    node = Node({"temporal_radius": 1, "engine": "classical"})
    fetcher = ArrayFetcher(plate=plates, clean_plate=shot.clean_plate)
    for frame in (1, 3, 5):  # the shot's ends have one neighbour, the middle two
        assert host.render(inst, (0, 0, W, H), time=float(frame)) == 0, host.messages
        ref = node.render(frame, fetcher)["rgba"]
        assert np.abs(host.output(inst) - ref).max() <= TOL
    single = Node({"engine": "classical"}).render(5, fetcher)["rgba"]
    assert np.abs(host.output(inst) - single).max() > 1e-3  # the window changed the matte


def test_identity_only_where_the_pass_is_the_clean_plate(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=15)
    args = Props(OfxPropTime=[1.0], OfxImageEffectPropRenderWindow=[0, 0, W, H])
    default = _instance(host, desc, plate, clean)
    assert host.action("OfxImageEffectActionIsIdentity", default, args) == 14
    params = {
        "output": "aligned_clean_plate", "align": "off", "match_exposure": 0,
        "separate_shadows": 0,
    }  # fmt: skip
    same = _instance(host, desc, plate, clean, **params)
    out = Props()
    assert host.action("OfxImageEffectActionIsIdentity", same, args, out) == 0
    assert out.values["OfxPropName"] == [b"CleanPlate"] and out.values["OfxPropTime"] == [1.0]
    assert host.render(same, (0, 0, W, H)) == 0, host.messages
    assert np.array_equal(host.output(same), _rgba(clean))  # what the host will copy
    matched = _instance(host, desc, plate, clean, **{**params, "match_exposure": 1})
    assert host.action("OfxImageEffectActionIsIdentity", matched, args) == 14
    # The clean plate as keyed against carries the subject's cast shadow when it is separated.
    shadowed = _instance(host, desc, plate, clean, **{**params, "separate_shadows": 1})
    assert host.action("OfxImageEffectActionIsIdentity", shadowed, args) == 14


def test_progress_rises_and_abort_stops_quietly(host: Host, desc: dict[str, Any]) -> None:
    plate, clean = _shot(seed=16)
    inst = _instance(host, desc, plate, clean)
    host.progress.clear()
    assert host.render(inst, (0, 0, W, H)) == 0, host.messages
    fractions = [v for v in host.progress if isinstance(v, float)]
    assert host.progress[0] == "start" and host.progress[-1] == "end"
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(fractions) >= 4  # between the stages, not just at the ends

    messages = len(host.messages)
    for how in ("abort", "cancel"):
        stopped = _instance(host, desc, *_shot(seed=17))
        sentinel = np.full((H, W, 4), -7.0, np.float32)
        host.connect(stopped, "Output", sentinel)
        host.aborted, host.cancel_after = how == "abort", 2 if how == "cancel" else None
        try:
            assert host.render(stopped, (0, 0, W, H)) == 0
        finally:
            host.aborted, host.cancel_after = False, None
        assert np.array_equal(host.output(stopped), sentinel), how  # nothing written
    assert len(host.messages) == messages  # a stop is not an error


DEV01 = Path(__file__).resolve().parents[3] / "shared" / "data" / "dev_cases" / "dev01_gt02_bonita"


@pytest.mark.skipif(not DEV01.is_dir(), reason=f"dev case not found at {DEV01}")
def test_dev_case_renders_like_bgmatte_matte(host: Host, desc: dict[str, Any]) -> None:
    plate = read_image(str(DEV01 / "plate.exr"), "plate").pixels[..., :3]
    clean = read_image(str(DEV01 / "clean_plate.exr"), "clean_plate").pixels[..., :3]
    h, w = plate.shape[:2]
    inst = _instance(host, desc, plate, clean)
    assert host.render(inst, (0, 0, w, h)) == 0, host.messages
    assert np.abs(host.output(inst) - bgmatte.matte(plate, clean).rgba).max() <= TOL


# ---- the independent host ------------------------------------------------------------------
needs_ofxhost = pytest.mark.skipif(
    not os.access(OFXHOST, os.X_OK) or shutil.which("ldd") is None,
    reason=f"ofxhost-render not found at {OFXHOST}",
)


def _ofxhost(*args: str) -> subprocess.CompletedProcess[str]:
    missing = subprocess.run(["ldd", str(OFXHOST)], capture_output=True, text=True).stdout
    if "not found" in missing:
        pytest.skip("ofxhost-render lacks its runtime libraries (libopenexr-3-1-30, libimath)")
    assert BUNDLE is not None
    env = {**os.environ, "BGMATTE_PYTHON": sys.executable}
    return subprocess.run(
        [str(OFXHOST), "--bundle-dir", str(BUNDLE.parent), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@needs_ofxhost
def test_ofxhost_lists_the_plugin() -> None:
    run = _ofxhost("--list")
    assert run.returncode == 0, run.stderr
    assert PLUGIN_ID in run.stdout
    for name in ("Source", "CleanPlate", "Segmentation (optional)", "Background (optional)"):
        assert name in run.stdout
    assert "threshold  type=Double  default=4" in run.stdout


@needs_ofxhost
@pytest.mark.parametrize("context", ["general", "filter"])
def test_ofxhost_renders_like_bgmatte_matte(tmp_path: Path, context: str) -> None:
    plate, clean = _shot(seed=12)
    write_exr(str(tmp_path / "plate.exr"), [("", plate)], half=False)
    write_exr(str(tmp_path / "clean.exr"), [("", clean)], half=False)
    out = tmp_path / "out.exr"
    run = _ofxhost(
        "--plugin-id", PLUGIN_ID, "--context", context,
        "--clip", f"Source={tmp_path / 'plate.exr'}",
        "--clip", f"CleanPlate={tmp_path / 'clean.exr'}",
        "--param", "threshold=5", "--frame", "1", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = read_image(str(out), "out")
    ref = bgmatte.matte(plate, clean, threshold=5.0).rgba
    assert np.abs(np.asarray(got.pixels)[..., :4] - ref).max() <= TOL


@needs_ofxhost
def test_ofxhost_reports_the_python_error(tmp_path: Path) -> None:
    plate, clean = _shot(seed=13)
    plate[0, 0, 1] = np.inf
    write_exr(str(tmp_path / "plate.exr"), [("", plate)], half=False)
    write_exr(str(tmp_path / "clean.exr"), [("", clean)], half=False)
    run = _ofxhost(
        "--plugin-id", PLUGIN_ID,
        "--clip", f"Source={tmp_path / 'plate.exr'}",
        "--clip", f"CleanPlate={tmp_path / 'clean.exr'}",
        "--frame", "1", "--out", str(tmp_path / "out.exr"),
    )  # fmt: skip
    assert run.returncode == 2
    assert "plugin said: bgmatte: plate: 1 pixel is NaN or Inf" in run.stderr


@needs_ofxhost
def test_ofxhost_renders_a_temporal_window_like_the_node(tmp_path: Path) -> None:
    from bgmatte.host_bridge.arrays import ArrayFetcher
    from bgmatte.plugin.node import Node

    shot = _moving(4)
    for i, plate in enumerate(shot.plates):
        write_exr(str(tmp_path / f"plate.{i + 1:04d}.exr"), [("", plate)], half=False)
    write_exr(str(tmp_path / "clean.exr"), [("", shot.clean_plate)], half=False)
    run = _ofxhost(
        "--plugin-id", PLUGIN_ID,
        "--clip", f"Source={tmp_path / 'plate.####.exr'}",
        "--clip", f"CleanPlate={tmp_path / 'clean.exr'}",
        "--param", "temporal_radius=1", "--param", "engine=classical",
        "--frame", "1-4", "--out", str(tmp_path / "out.####.exr"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    plates = {i + 1: p for i, p in enumerate(shot.plates)}
    fetcher = ArrayFetcher(plate=plates, clean_plate=shot.clean_plate)
    node = Node({"temporal_radius": 1, "engine": "classical"})
    for frame in range(1, 5):
        got = np.asarray(read_image(str(tmp_path / f"out.{frame:04d}.exr"), "out").pixels)
        assert np.abs(got[..., :4] - node.render(frame, fetcher)["rgba"]).max() <= TOL, frame


@needs_ofxhost
@pytest.mark.skipif(not DEV01.is_dir(), reason=f"dev case not found at {DEV01}")
def test_ofxhost_renders_the_dev_case_like_bgmatte_matte(tmp_path: Path) -> None:
    out = tmp_path / "out.exr"
    run = _ofxhost(
        "--plugin-id", PLUGIN_ID,
        "--clip", f"Source={DEV01 / 'plate.exr'}",
        "--clip", f"CleanPlate={DEV01 / 'clean_plate.exr'}",
        "--frame", "1", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    plate = read_image(str(DEV01 / "plate.exr"), "plate").pixels[..., :3]
    clean = read_image(str(DEV01 / "clean_plate.exr"), "clean_plate").pixels[..., :3]
    got = np.asarray(read_image(str(out), "out").pixels)[..., :4]
    assert np.abs(got - bgmatte.matte(plate, clean).rgba).max() <= TOL
