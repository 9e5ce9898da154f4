"""Damaged plates through the OpenFX bundle, in both test hosts (bad input never hurts).

The plates are seeded mutants from :mod:`exr_fuzz` (the same cases as
``test_fuzz_files.py``; half of them still read), and readable ones with seeded bit flips in
their pixels (NaN, Inf, huge values: what a damaged uncompressed file decodes to), pushed
through

* ``ofxhost-render`` (../shared/tools/ofxhost, a host we did not write) as files: the host
  never dies by a signal, a render either writes a finite output or exits 2 with
  ``ofxhost-render: ERROR:``, and where our plug-in was the one to fail, that line carries our
  one-line message (``plugin said: bgmatte: <input>: <problem>; <fix>``) and stderr holds no
  Python traceback;
* our ctypes host (:mod:`ofx_host`) as arrays, for the mutants that still read: render status
  0 with finite output and alpha in [0, 1], or kOfxStatFailed with our one line through the
  message suite.

Two instances rendering the same damaged-but-readable frame on two threads give identical
output. Skips as ``test_ofx_bundle.py`` does when the bundle or the tool is missing.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.imageio import read_image, write_exr

from .exr_fuzz import flip_bits, shot_pixels
from .ofx_host import Host
from .test_fuzz_files import FIRST_SEED, LONG_RUN, make_case
from .test_ofx_bundle import BUNDLE, PLUGIN_ID, _ofxhost, _rgba, desc, host, needs_ofxhost

pytestmark = pytest.mark.skipif(
    BUNDLE is None,
    reason="OpenFX bundle not built (BGMATTE_BUILD_OFX=OFF, or no C++ compiler): pip install -e .",
)
__all__ = ["desc", "host"]  # the bundle tests' fixtures, shared
H, W = 48, 64
FILES = 10  # damaged plates per host
OUR_LINE = re.compile(r"bgmatte: (plate|clean_plate)\b[^\n]*: [^\n]+; [^\n]+")
FAILED = 1  # kOfxStatFailed


def _reads(data: bytes, folder: str) -> np.ndarray | None:
    """The pixels of EXR bytes as RGBA (RGB from the first three channels, zeros for missing
    ones, alpha 1), or None when our reader refuses them."""
    path = Path(folder) / "plate.exr"
    path.write_bytes(data)
    try:
        image = read_image(str(path), "plate")
    except BgmatteError:
        return None
    rgb = np.zeros((*image.pixels.shape[:2], 3), np.float32)
    n = min(3, image.pixels.shape[2])
    rgb[..., :n] = image.pixels[..., :n]
    return _rgba(rgb)


@cache
def _plates() -> tuple[tuple[int, np.ndarray | None], ...]:
    """(seed, RGBA pixels or None) of plate-only cases from seed 5000 on: the first
    :data:`FILES` // 2 that still read and the first :data:`FILES` // 2 that do not."""
    readable: list[tuple[int, np.ndarray | None]] = []
    unreadable: list[tuple[int, np.ndarray | None]] = []
    seed = 5000
    with tempfile.TemporaryDirectory() as folder:
        while len(readable) < FILES // 2 or len(unreadable) < FILES // 2:
            case = make_case(seed)
            if case.target == "plate":
                pixels = _reads(case.plate, folder)
                (unreadable if pixels is None else readable).append((seed, pixels))
            seed += 1
    return tuple(readable[: FILES // 2] + unreadable[: FILES // 2])


def _damaged_pixels(index: int) -> tuple[str, np.ndarray]:
    """A plate that reads, for the in-memory host: the readable mutants as read, and the same
    with seeded bit flips in the pixels (NaN, Inf, huge values), alternately."""
    seed, pixels = [p for p in _plates() if p[1] is not None][index // 2]
    assert pixels is not None
    if index % 2:
        return f"seed {seed} + bit flips", flip_bits(pixels[..., :3], seed)
    return f"seed {seed}", pixels


# ---- ofxhost-render ----------------------------------------------------------------------------
@needs_ofxhost
@pytest.mark.parametrize("index", range(FILES + 2))
def test_ofxhost_survives_a_damaged_plate(tmp_path: Path, index: int) -> None:
    """Ten mutant files (half of them readable), and two valid float files of bit-flipped
    pixels, which reach the plug-in."""
    plate, clean, out = tmp_path / "plate.exr", tmp_path / "clean.exr", tmp_path / "out.exr"
    if index < FILES:
        seed = _plates()[index][0]
        case = make_case(seed)
        plate.write_bytes(case.plate)
        clean.write_bytes(case.clean)
        what = f"seed {seed} ({'; '.join(case.steps)})"
    else:
        what, pixels = _damaged_pixels(2 * (index - FILES) + 1)
        write_exr(str(plate), [("", pixels[..., :3])], half=False)
        write_exr(str(clean), [("", shot_pixels()[1])], half=False)
    problem = _ofxhost_problem(plate, clean, out)
    assert problem is None, f"{what}: {problem}"


def _ofxhost_problem(plate: Path, clean: Path, out: Path) -> str | None:
    """Render ``plate`` over ``clean`` with ``ofxhost-render``: None where the host wrote a
    finite output or stopped with one error line (our one line, whole, where our plug-in
    failed) and no file; else what went wrong."""
    run = _ofxhost(
        "--plugin-id", PLUGIN_ID,
        "--clip", f"Source={plate}", "--clip", f"CleanPlate={clean}",
        "--param", "engine=classical", "--frame", "1", "--out", str(out),
    )  # fmt: skip
    said = f"exit {run.returncode}, stderr {run.stderr!r}"
    if run.returncode < 0:
        return f"killed by a signal: {said}"
    if "Traceback" in run.stderr:
        return f"a traceback: {said}"
    if run.returncode == 0:
        got = oiio.ImageBuf(str(out)).get_pixels(oiio.FLOAT)
        return None if got is not None and np.isfinite(got).all() else f"not finite: {said}"
    if run.returncode != 2:
        return said
    errors = [line for line in run.stderr.splitlines() if line.startswith("ofxhost-render: ERROR:")]
    if len(errors) != 1:
        return f"not one error line: {said}"
    if "plugin said:" in errors[0]:  # our plug-in failed: our one line, whole
        posted = [line.split("] ", 1)[1] for line in run.stderr.splitlines() if "] bgmatte" in line]
        if not (len(posted) == 1 and OUR_LINE.fullmatch(posted[0])):
            return f"not our one line: {said}"
        if not errors[0].endswith(f"(plugin said: {posted[0]})"):
            return f"our line cut: {said}"
    return f"a file left behind: {said}" if out.exists() else None


@needs_ofxhost
@pytest.mark.fuzz
@pytest.mark.skipif(not LONG_RUN, reason="the long run: BGMATTE_FUZZ_FILES=1000 pytest -m fuzz")
def test_ofxhost_long_run(tmp_path: Path) -> None:
    """The command line's long run (the same seeded cases) through ``ofxhost-render``."""
    counts: Counter[str] = Counter()
    failures = []
    start = time.monotonic()
    for seed in range(FIRST_SEED, FIRST_SEED + LONG_RUN):
        case = make_case(seed)
        folder = tmp_path / f"case{seed}"
        folder.mkdir()
        plate, clean, out = folder / "plate.exr", folder / "clean.exr", folder / "out.exr"
        plate.write_bytes(case.plate)
        clean.write_bytes(case.clean)
        problem = _ofxhost_problem(plate, clean, out)
        counts["failed" if problem else "rendered" if out.exists() else "stopped"] += 1
        if problem is not None:
            failures.append(f"seed {seed} ({'; '.join(case.steps)}): {problem}")
            print(failures[-1], flush=True)
    minutes = (time.monotonic() - start) / 60
    print(
        f"\nofxhost fuzz: {LONG_RUN} files (seeds {FIRST_SEED}..{FIRST_SEED + LONG_RUN - 1}) in "
        f"{minutes:.1f} min: {counts['rendered']} rendered, {counts['stopped']} stopped "
        f"cleanly, {counts['failed']} failed",
        flush=True,
    )
    assert not failures, "\n".join(failures)


# ---- our ctypes host ---------------------------------------------------------------------------
def _instance(host: Host, desc: dict[str, Any], plate: np.ndarray, clean: np.ndarray) -> int:
    inst = host.create(desc, engine="classical")
    host.connect(inst, "Source", plate)
    host.connect(inst, "CleanPlate", clean)
    host.connect(inst, "Output", np.full((*plate.shape[:2], 4), -7.0, np.float32))
    return inst


@pytest.mark.parametrize("index", range(FILES))
def test_our_host_survives_a_damaged_plate(host: Host, desc: dict[str, Any], index: int) -> None:
    what, plate = _damaged_pixels(index)
    clean = _rgba(shot_pixels()[1])
    inst = _instance(host, desc, _rgba(plate[..., :3]), clean)
    h, w = plate.shape[:2]
    host.messages.clear()
    status = host.render(inst, (0, 0, w, h))
    said = f"{what}: status {status}, {host.messages}"
    if status == 0:
        assert host.messages == [], said
        out = host.output(inst)
        assert np.isfinite(out).all(), said
        assert (out[..., 3] >= 0).all() and (out[..., 3] <= 1).all(), said
        return
    assert status == FAILED, said
    assert len(host.messages) == 1 and OUR_LINE.fullmatch(host.messages[0]), said
    assert "\n" not in host.messages[0], said


def test_two_instances_render_a_damaged_frame_alike_on_two_threads(
    host: Host, desc: dict[str, Any]
) -> None:
    clean = _rgba(shot_pixels()[1])
    # The first damaged plate that still renders (the plate's own size, finite pixels).
    seed, plate = next(
        (s, p)
        for s, p in _plates()
        if p is not None and p.shape[:2] == (H, W) and np.isfinite(p).all()
    )
    insts = [_instance(host, desc, plate, clean) for _ in range(2)]
    status = [-1, -1]

    def run(i: int) -> None:
        status[i] = host.render(insts[i], (0, 0, W, H))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert status == [0, 0], (seed, host.messages)
    first, second = (host.output(i) for i in insts)
    assert np.array_equal(first, second), seed
    assert np.isfinite(first).all()
