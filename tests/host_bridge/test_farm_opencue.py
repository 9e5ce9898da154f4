"""``bgmatte submit opencue``: the job spec pyoutline writes with ``--dry-run`` lists every frame
once, and each chunk's command, run here as a render host would run it, writes its frames:
the same files a single ``bgmatte render`` writes.

No Cuebot is reachable from the tests, so the dry run is what they check; the chunking is
OpenCue's own (``FileSequence.FrameSet`` from the ASWF client libraries, as Cuebot expands a
layer's range), and the tokens are replaced as the render host replaces them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.host_bridge.imageio import write_exr

# Found, not imported: the OpenCue client brings grpc, whose fork handlers would then write
# to the stderr of every subprocess later tests start from this process. The submissions
# below run in subprocesses for the same reason.
if importlib.util.find_spec("outline") is None:
    pytest.skip(
        "the OpenCue client libraries (bgmatte[farm]) are not installed", allow_module_level=True
    )
FileSequence = pytest.importorskip("FileSequence")  # pure Python

Run = Any  # the `cli` fixture
PROGRAM = f"{sys.executable} -m bgmatte"


def _submit(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``bgmatte submit opencue ...`` in a subprocess: (exit status, stdout, stderr)."""
    environ = {k: v for k, v in os.environ.items() if k != "OCIO"} | (env or {})
    done = subprocess.run(
        [sys.executable, "-m", "bgmatte", "submit", "opencue", *argv],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def sequence(tmp_path: Path, kit: Any) -> Path:
    """Frames 1001-1007 of a shot (a subject crossing a locked-off background), 64×48."""
    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])
    for f in range(1001, 1008):
        plate = kit.plate_over(clean, kit.subject_alpha(cx=12.0 + 5.0 * (f - 1000)), seed=f)
        write_exr(str(tmp_path / f"plate.{f:04d}.exr"), [("", plate)])
    return tmp_path


def _shot(folder: Path, out: str, *extra: str) -> list[str]:
    return [
        "--plate",
        str(folder / "plate.####.exr"),
        "--clean-plate",
        str(folder / "clean.exr"),
        "--out",
        str(folder / out / "m.####.exr"),
        *extra,
    ]


def _chunks(spec: Path) -> tuple[str, list[list[int]]]:
    """The layer's command and its chunks' frames, as Cuebot dispatches them: the range's
    frames in order, ``chunk`` at a time."""
    layer = ET.parse(spec).getroot().find("job/layers/layer")
    assert layer is not None
    frames = list(FileSequence.FrameSet(layer.findtext("range")))
    size = int(layer.findtext("chunk") or 0)
    return layer.findtext("cmd") or "", [frames[i : i + size] for i in range(0, len(frames), size)]


def _run_chunk(command: str, frames: list[int]) -> None:
    """Run one chunk's command as a render host does: tokens replaced, through the shell."""
    line = command.replace("#FRAME_START#", str(frames[0])).replace("#FRAME_END#", str(frames[-1]))
    env = {k: v for k, v in os.environ.items() if k != "OCIO"}
    done = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, timeout=300)
    assert (done.returncode, done.stderr) == (0, ""), line


def _pixels(path: Path) -> bytes:
    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.FLOAT)
    assert pixels is not None, buf.geterror()
    return np.asarray(pixels).tobytes()


@pytest.mark.parametrize(
    ("frames", "expected"),
    [("1001-1007", range(1001, 1008)), ("1001-1007x2", range(1001, 1008, 2))],
)
def test_dry_run_lists_every_frame_once_and_each_command_writes_its_frames(
    cli: Run, sequence: Path, kit: Any, frames: str, expected: range
) -> None:
    spec = sequence / "job.xml"
    extra = ("--frames", frames, "--temporal-radius", "1", "--float")
    rc, out, err = _submit(
        *_shot(sequence, "farm", *extra), "--chunk", "2",
        "--dry-run", str(spec), "--bgmatte", PROGRAM, "--show", "demo", "--shot", "sh010",
    )  # fmt: skip
    assert (rc, err) == (0, "")
    chunks = -(-len(expected) // 2)
    assert out == (
        f"bgmatte: wrote the OpenCue job demo-sh010-bgmatte ({len(expected)} frames in "
        f"{chunks} chunk(s)) to {spec}; nothing submitted\n"
    )
    root = ET.parse(spec).getroot()
    assert (root.findtext("show"), root.findtext("shot")) == ("demo", "sh010")
    command, dispatched = _chunks(spec)
    assert sorted(f for c in dispatched for f in c) == list(expected)  # each frame once
    assert kit.all_files(sequence / "farm") == set()  # nothing rendered by the dry run
    for chunk in dispatched:
        before = kit.all_files(sequence / "farm") if (sequence / "farm").exists() else set()
        _run_chunk(command, chunk)
        new = kit.all_files(sequence / "farm") - before
        assert new == {f"m.{f:04d}.exr" for f in chunk}  # that chunk's frames, no others
    # What the farm wrote is what one render with the same flags writes.
    assert cli("render", *_shot(sequence, "here", *extra), "--engine", "network")[0] == 0
    for f in expected:
        name = f"m.{f:04d}.exr"
        assert _pixels(sequence / "farm" / name) == _pixels(sequence / "here" / name), name


def test_frames_that_are_not_one_range_are_refused(sequence: Path) -> None:
    rc, out, err = _submit(
        *_shot(sequence, "farm", "--frames", "1001,1002,1005"),
        "--dry-run", str(sequence / "job.xml"),
    )  # fmt: skip
    assert (rc, out) == (2, "")
    assert err == (
        "bgmatte: error: --frames: 3 frames that are not one evenly spaced range; submit one "
        "job per range, e.g. --frames 1001-1100 or 1001-1100x2\n"
    )
    assert not (sequence / "job.xml").exists()


def test_a_dry_run_file_that_cannot_be_written_is_named(sequence: Path) -> None:
    spec = sequence / "no" / "job.xml"
    rc, _, err = _submit(*_shot(sequence, "farm"), "--dry-run", str(spec))
    assert rc == 2
    assert err == (
        f"bgmatte: error: --dry-run: cannot write {spec} (folder {spec.parent} does not "
        "exist); check that the folder exists and is writable\n"
    )


def test_without_a_cuebot_the_submission_says_so(sequence: Path) -> None:
    # pyoutline keeps its session under ~/.opencue; nothing listens on port 9 (discard)
    env = {"HOME": str(sequence), "CUEBOT_HOSTS": "127.0.0.1:9"}
    rc, out, err = _submit(*_shot(sequence, "farm"), env=env)
    assert (rc, out) == (2, "")
    assert err.startswith("bgmatte: error: submit opencue: Cuebot did not take the job (")
    assert err.endswith(
        "; check CUEBOT_HOSTS and that Cuebot is up, or write the job with --dry-run\n"
    )


def test_without_the_opencue_libraries_the_error_says_what_to_install(
    cli: Run, sequence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "outline", None)  # import outline raises ImportError
    rc, _, err = cli("submit", "opencue", *_shot(sequence, "farm"), "--dry-run", "job.xml")
    assert rc == 2
    assert err == (
        "bgmatte: error: submit opencue: the OpenCue client libraries are not installed; "
        "install the farm extra: pip install 'bgmatte[farm]'\n"
    )
