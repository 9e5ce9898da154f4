"""``bgmatte bench farm``: what rendering on a local Ray costs against one process.

A generated moving shot (:mod:`bgmatte.bench.scenes.moving`) is written to a temp folder as
EXRs, then rendered twice by the command line, each in its own process as a farm would run
it: ``bgmatte render`` (one process, torch on ``--threads`` threads) and ``bgmatte render
--cluster ray --workers N`` (a local Ray started and stopped by the command, one thread per
worker). Printed per run: wall seconds, seconds per frame, and for Ray the overhead over the
one process; then the largest difference between their pixels. On a machine with as many cores as
threads, N workers of one thread against one process of N threads shows the farm's cost (Ray
start-up, N model loads, chunk ends of the temporal window), not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bgmatte.bench.command import Benchmark, add_settings, parse_size, settings
from bgmatte.bench.table import print_header, print_row

_SIZES = {"HD": (1080, 1920), "4K": (2160, 3840)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=32, help="frames in the shot (default 32)")
    parser.add_argument(
        "--size",
        default="HD",
        help="HD, 4K or HEIGHTxWIDTH (default HD)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads of the one process (default 2)"
    )
    parser.add_argument("--chunk", type=int, help="frames per Ray task (default: render's)")
    add_settings(parser)


def write_shot(folder: Path, frames: int, height: int, width: int) -> None:
    """The moving demo shot as ``plate.####.exr`` (frames 1..N) and ``clean.exr``."""
    from bgmatte.bench.scenes.moving import make_moving_shot
    from bgmatte.host_bridge.imageio import write_exr

    shot = make_moving_shot(frames, height, width)
    write_exr(str(folder / "clean.exr"), [("", shot.clean_plate)])
    for i, plate in enumerate(shot.plates, start=1):
        write_exr(str(folder / f"plate.{i:04d}.exr"), [("", plate)])


def _render(folder: Path, out: str, extra: list[str], threads: int) -> float:
    """One ``bgmatte render`` of the shot in a subprocess; its wall seconds."""
    argv = [sys.executable, "-m", "bgmatte", "render", "--quiet"]
    argv += ["--plate", str(folder / "plate.####.exr"), "--clean-plate", str(folder / "clean.exr")]
    argv += ["--out", str(folder / out / "m.####.exr"), *extra]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _largest_difference(folder: Path, frames: int) -> float:
    """The largest difference between the two renders' pixels over the shot."""
    import numpy as np
    import OpenImageIO as oiio

    worst = 0.0
    for i in range(1, frames + 1):
        a = oiio.ImageBuf(str(folder / "one" / f"m.{i:04d}.exr")).get_pixels(oiio.FLOAT)
        b = oiio.ImageBuf(str(folder / "ray" / f"m.{i:04d}.exr")).get_pixels(oiio.FLOAT)
        worst = max(worst, float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    return worst


def run(args: argparse.Namespace) -> list[dict]:
    height, width = _SIZES.get(args.size.upper()) or parse_size(args.size)
    params = [f"--{k.replace('_', '-')}={v}" for k, v in settings(args).items()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bgmatte_farm_") as tmp:
        folder = Path(tmp)
        write_shot(folder, args.frames, height, width)
        one = _render(folder, "one", params, args.threads)
        ray_flags = ["--cluster", "ray", "--workers", str(args.workers)]
        ray_flags += ["--chunk", str(args.chunk)] if args.chunk else []
        on_ray = _render(folder, "ray", [*params, *ray_flags], 1)
        worst = _largest_difference(folder, args.frames)
    # Torch's convolutions sum in an order that depends on the thread count, so the one
    # process on N threads and the 1-thread workers differ by a few half-float steps; at equal
    # threads they are equal bit for bit (tests/host_bridge/test_farm_ray.py).
    print(
        f"{args.frames} frames {height}x{width}; largest pixel difference between the runs: "
        f"{worst:.2g}"
    )
    cols = ("run", "wall s", "s/frame", "overhead s", "overhead s/frame")
    print_header(cols, "lrrrr")
    for name, wall in ((f"one process, {args.threads} threads", one),
                       (f"local Ray, {args.workers} workers x 1 thread", on_ray)):  # fmt: skip
        over = wall - one
        row = {
            "run": name,
            "wall_s": round(wall, 2),
            "s_per_frame": round(wall / args.frames, 3),
            "overhead_s": round(over, 2),
            "overhead_s_per_frame": round(over / args.frames, 3),
            "largest_difference": worst,
        }
        rows.append(row)
        print_row([name, f"{wall:.1f}", f"{wall / args.frames:.3f}", f"{over:.1f}",
                   f"{over / args.frames:.3f}"])  # fmt: skip
    return rows


BENCHMARK = Benchmark(
    "farm",
    "a shot rendered by one process and by a local Ray: wall time and the farm's overhead",
    add_arguments,
    run,
)
