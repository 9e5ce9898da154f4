"""``bgmatte bench farm``: what rendering on a local Ray costs against one process.

A generated moving shot (:mod:`bgmatte.bench.scenes.moving`) is written to a temp folder as
EXRs, then rendered three times by the command line, each in its own process as a farm would run it:
``bgmatte render`` on ``--threads`` threads, the same on one thread, and ``bgmatte render
--cluster ray --workers N`` (a local Ray started and stopped by the command, one thread per
worker). Printed: each run's wall seconds and seconds per frame, the largest pixel difference
between the first and the last, and Ray's overhead: its wall time less a perfect N-way split
of the one-thread run (Ray's start-up, N model loads, the temporal window's extra solves at
chunk ends, the scheduling). A 2-core machine cannot show a speed-up; it shows that cost.
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
    """The largest difference between the one process's and Ray's pixels over the shot."""
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
    params = []
    for name, value in settings(args).items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):  # a yes/no param is --flag or --no-flag
            params.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            params.append(f"--{flag}={value}")
    ray_flags = ["--cluster", "ray", "--workers", str(args.workers)]
    ray_flags += ["--chunk", str(args.chunk)] if args.chunk else []
    runs = [
        ("one", f"one process, {args.threads} threads", params, args.threads),
        ("one1", "one process, 1 thread", params, 1),
        ("ray", f"local Ray, {args.workers} workers x 1 thread", [*params, *ray_flags], 1),
    ]
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bgmatte_farm_") as tmp:
        folder = Path(tmp)
        write_shot(folder, args.frames, height, width)
        for out, _, extra, threads in runs:
            walls[out] = _render(folder, out, extra, threads)
        worst = _largest_difference(folder, args.frames)
    # Torch's convolutions sum in an order that depends on the thread count, so the one
    # process on N threads and the 1-thread workers differ by a few half-float steps; at equal
    # threads they are equal bit for bit (tests/host_bridge/test_farm_ray.py).
    print(
        f"{args.frames} frames {height}x{width}; largest pixel difference between the runs: "
        f"{worst:.2g}"
    )
    print_header(("run", "wall s", "s/frame"), "lrr")
    rows = []
    for out, name, _, _ in runs:
        wall = walls[out]
        rows.append({"run": name, "wall_s": round(wall, 2), "s_per_frame": wall / args.frames})
        print_row([name, f"{wall:.1f}", f"{wall / args.frames:.3f}"])
    ideal = walls["one1"] / args.workers
    over = walls["ray"] - ideal
    print(
        f"Ray's overhead over a perfect {args.workers}-way split of the 1-thread process "
        f"({ideal:.1f} s): {over:.1f} s, {over / args.frames:.3f} s per frame"
    )
    rows.append({"run": "overhead", "wall_s": round(over, 2), "s_per_frame": over / args.frames})
    return rows


BENCHMARK = Benchmark(
    "farm",
    "a shot rendered by one process and by a local Ray: wall time and the farm's overhead",
    add_arguments,
    run,
)
