"""``bgmatte render --cluster ray``: a local Ray of two workers renders what one process
renders, bit for bit (with and without the temporal window), survives a killed worker, and
reports a frame that fails twice while the rest of the shot completes.

The Ray renders run as subprocesses, each starting and stopping its own local Ray, so no Ray
state or thread outlives a test; the single-process reference runs in this process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.host_bridge.imageio import write_exr

# Found, not imported: Ray brings grpc, whose fork handlers would then write to the stderr
# of every subprocess later tests start from this process.
if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray (bgmatte[farm]) is not installed", allow_module_level=True)

FRAMES = 8
Run = Any  # the `cli` fixture


@pytest.fixture
def sequence(tmp_path: Path, kit: Any) -> Path:
    """An 8-frame shot (a subject crossing a locked-off textured background), 64×48."""
    clean = kit.clean_plate()
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])
    for f in range(1, FRAMES + 1):
        plate = kit.plate_over(clean, kit.subject_alpha(cx=20.0 + 3.0 * f), seed=f)
        write_exr(str(tmp_path / f"plate.{f:04d}.exr"), [("", plate)])
    return tmp_path


def _args(folder: Path, out: str, *extra: str) -> list[str]:
    return [
        "render",
        "--plate",
        str(folder / "plate.####.exr"),
        "--clean-plate",
        str(folder / "clean.exr"),
        "--out",
        str(folder / out / "m.####.exr"),
        *extra,
    ]


def _on_ray(folder: Path, out: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    """``bgmatte render --cluster ray --workers 2`` in a subprocess (the default engine)."""
    environ = {k: v for k, v in os.environ.items() if k != "OCIO"} | (env or {})
    argv = _args(folder, out, "--quiet", "--cluster", "ray", "--workers", "2", *extra)
    return subprocess.run(
        [sys.executable, "-m", "bgmatte", *argv],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


def _frame(path: Path) -> tuple[bytes, dict[str, Any]]:
    """A written frame's pixels as bytes and its header, less the write time and the path."""
    buf = oiio.ImageBuf(str(path))
    pixels = buf.get_pixels(oiio.FLOAT)
    assert pixels is not None, buf.geterror()
    attrs = {a.name: a.value for a in buf.spec().extra_attribs}
    for volatile in ("DateTime", "oiio:SourcePath"):
        attrs.pop(volatile, None)
    return np.asarray(pixels).tobytes(), attrs


def _assert_same_shot(folder: Path, a: str, b: str) -> None:
    names = sorted(os.listdir(folder / a))
    assert names == [f"m.{f:04d}.exr" for f in range(1, FRAMES + 1)]
    assert sorted(os.listdir(folder / b)) == names
    for name in names:
        assert _frame(folder / a / name) == _frame(folder / b / name), name


@pytest.mark.parametrize("radius", ["0", "1"])
def test_two_workers_render_what_one_process_renders(cli: Run, sequence: Path, radius: str) -> None:
    # chunks of 3: 1-3, 4-6, 7-8; with radius 1 each chunk's ends read frames of other chunks
    got = _on_ray(sequence, "ray", "--chunk", "3", "--temporal-radius", radius)
    assert (got.returncode, got.stderr) == (0, "")
    assert got.stdout == f"bgmatte: wrote {FRAMES} file(s) to {sequence}/ray/m.####.exr\n"
    rc, _, err = cli(*_args(sequence, "single", "--engine", "network", "--temporal-radius", radius))
    assert (rc, err) == (0, "")
    _assert_same_shot(sequence, "single", "ray")


def test_a_killed_worker_is_replaced_and_the_shot_completes(cli: Run, sequence: Path) -> None:
    marker = sequence / "killed"
    got = _on_ray(sequence, "ray", "--chunk", "2", env={"BGMATTE_RAY_KILL_ONCE": f"5:{marker}"})
    assert marker.is_file()  # the worker rendering frame 5 did die
    assert got.returncode == 0, got.stderr
    assert got.stderr == (
        "bgmatte: warning: the worker rendering frames 5-6 died; they go to another worker\n"
    )
    # Ray's own driver prints its account of the death on stdout before our last line.
    *ray_says, ours = got.stdout.splitlines()
    assert ours == f"bgmatte: wrote {FRAMES} file(s) to {sequence}/ray/m.####.exr"
    assert all("A worker died or was killed" in line for line in ray_says)
    assert cli(*_args(sequence, "single", "--engine", "network"))[0] == 0
    _assert_same_shot(sequence, "single", "ray")


def test_a_frame_that_fails_twice_is_named_and_the_rest_completes(sequence: Path, kit: Any) -> None:
    broken = sequence / "plate.0006.exr"
    broken.write_bytes(broken.read_bytes()[:300])  # truncated: the header reads, no pixels
    got = _on_ray(sequence, "ray")
    assert got.returncode == 1
    assert got.stderr == (
        f"bgmatte: error: frame 6 failed twice: plate: cannot read {broken} (EXR Error: "
        "EXR_ERR_READ_IO End of file attempting to read header); re-export the file; it "
        "looks truncated or corrupt\n"
    )
    out = f"{sequence}/ray/m.####.exr"
    assert got.stdout == f"bgmatte: wrote 7 file(s) to {out}; 1 frame(s) failed\n"
    expected = {f"m.{f:04d}.exr" for f in range(1, FRAMES + 1) if f != 6}
    assert kit.all_files(sequence / "ray") == expected  # and no temp file


def test_without_ray_the_cluster_flag_says_what_to_install(
    cli: Run, sequence: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    rc, out, err = cli(*_args(sequence, "ray", "--cluster", "ray"))
    assert (rc, out) == (2, "")
    assert err == (
        "bgmatte: error: --cluster ray: Ray is not installed; install the farm extra: "
        "pip install 'bgmatte[farm]'\n"
    )


def test_cluster_flags_without_a_cluster_are_refused(cli: Run, sequence: Path) -> None:
    rc, _, err = cli(*_args(sequence, "ray", "--workers", "2"))
    assert rc == 2
    assert err == (
        "bgmatte: error: --workers: is for a cluster render; add --cluster ray, or drop --workers\n"
    )


def test_bench_farm_prints_both_runs_and_their_difference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bgmatte.host_bridge.cli import main

    assert main(["bench", "farm", "--frames", "2", "--size", "48x64", "--workers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 frames 48x64; largest pixel difference between the runs: ")
    assert float(lines[0].rsplit(" ", 1)[1]) < 0.01  # the same matte, up to summation order
    assert lines[1] == "| run | wall s | s/frame |"
    assert lines[3].startswith("| one process, 2 threads | ")
    assert lines[4].startswith("| one process, 1 thread | ")
    assert lines[5].startswith("| local Ray, 2 workers x 1 thread | ")
    assert lines[6].startswith("Ray's overhead over a perfect 2-way split of the 1-thread process")
    assert len(lines) == 7
