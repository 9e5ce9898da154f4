"""``bgmatte bench speed``: the whole ``bgmatte.matte`` call (linear float32 arrays in, alpha
and foreground out) on synthetic scene-linear HD and 4K frames; median seconds per frame over
N frames after warm-up, torch threads set explicitly, and the peak resident memory of a child
process per engine and resolution (so one size's memory does not hide another's).

With ``--stages``, also the milliseconds of each stage of the call (median over the timed
frames; :mod:`bgmatte.plugin.timing`), so a change can be judged stage by stage. With
``--device cuda``, also the most GPU memory the frames held (will a shot fit on a smaller
card?)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

from bgmatte.bench.command import Benchmark, add_settings, settings
from bgmatte.bench.table import print_header, print_row

SIZES = {"HD": (1080, 1920), "4K": (2160, 3840)}


def synthetic_frame(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A plausible scene-linear plate / clean plate pair: textured HDR background, a soft
    person-like subject with strands, 1 % noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    small = rng.random((height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    bg = ndimage.zoom(small, (16, 16, 1), order=1)[:height, :width] * 0.8 + 0.1
    bg[: height // 10, : width // 10] *= 8.0  # a bright window
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    body = ((x - 0.5 * width) / (0.18 * width)) ** 2 + ((y - 0.75 * height) / (0.5 * height)) ** 2
    head = ((x - 0.5 * width) / (0.07 * width)) ** 2 + ((y - 0.3 * height) / (0.12 * height)) ** 2
    alpha = np.clip(1.5 - np.minimum(body, head), 0.0, 1.0)
    strands = (np.sin(x * 0.9) > 0.95) & (head < 2.0) & (y < 0.3 * height)
    alpha = np.maximum(alpha, strands * 0.6).astype(np.float32)
    fg = np.stack([0.6 + 0 * x, 0.4 + 0 * x, 0.3 + 0 * x], -1).astype(np.float32)
    a = alpha[..., None]
    plate = a * fg + (1 - a) * bg
    plate = plate * (1 + 0.01 * rng.standard_normal(plate.shape, dtype=np.float32))
    clean = bg * (1 + 0.01 * rng.standard_normal(bg.shape, dtype=np.float32))
    return plate.astype(np.float32), clean.astype(np.float32)


def gpu_memory_peak_gib(device: str) -> float | None:
    """The most GPU memory the frames held since the last reset, GiB: PyTorch's peak
    allocation plus what CuPy's pool holds (the unmix's kernels; the pool keeps its blocks);
    None on the CPU."""
    if device == "cpu":
        return None
    import torch

    total = float(torch.cuda.max_memory_allocated())
    if "cupy" in sys.modules:
        total += float(sys.modules["cupy"].get_default_memory_pool().total_bytes())
    return total / 2**30


def speed_child(
    size: str,
    frames: int,
    warmup: int,
    threads: int,
    engine: str,
    extra: dict | None = None,
    device: str = "cpu",
) -> dict:
    """Time one resolution in this process; returns the figures (``stages_ms``: the median
    milliseconds of each stage, :mod:`bgmatte.plugin.timing`)."""
    import torch

    torch.set_num_threads(threads)
    import bgmatte
    from bgmatte.plugin import timing
    from bgmatte.plugin.heap import keep_frames_in_heap

    heap = keep_frames_in_heap()  # as a render's process does (BGMATTE_HEAP=system: not)

    sync = torch.cuda.synchronize if device != "cpu" and torch.cuda.is_available() else None
    if sync is not None:
        torch.cuda.reset_peak_memory_stats()
    h, w = SIZES[size]
    plate, clean = synthetic_frame(h, w)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    stages: list[dict[str, float]] = []
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        with timing.record(sync) as spent:
            got = bgmatte.matte(plate, clean, engine=engine, device=device, **(extra or {}))
            _ = got.foreground
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            stages.append(spent)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    names = [n for n in (*timing.STAGES, "other") if any(n in s for s in stages)]
    return {
        "stages_ms": {n: 1e3 * statistics.median(s.get(n, 0.0) for s in stages) for n in names},
        "size": size,
        "engine": engine,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "frames": frames,
        "threads": threads,
        "device": device,
        "peak_rss_gib": peak / 2**20,
        "peak_gpu_gib": gpu_memory_peak_gib(device) if sync is not None else None,
        "inputs_rss_gib": base_rss / 2**20,
        "frames_in_heap": heap,
    }


def time_in_child(
    size: str,
    frames: int,
    warmup: int,
    threads: int,
    engine: str,
    extra: dict[str, str] | None,
    device: str,
) -> dict | str:
    """:func:`speed_child` in a fresh process; its row, or the child's last line of stderr
    where it failed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    code = (
        "import json,sys; from bgmatte.bench.speed import speed_child; "
        f"print(json.dumps(speed_child({size!r}, {frames}, {warmup}, {threads}, "
        f"{engine!r}, {extra or {}!r}, {device!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or ["?"])[-1]
    row: dict = json.loads(out.stdout.strip().splitlines()[-1])
    row["settings"] = extra or {}
    return row


def print_table_header(device: str = "cpu") -> None:
    titles = ["engine", "size", "median s/frame", "min s/frame", "peak RSS GiB", "threads"]
    if device != "cpu":
        titles.append("peak GPU GiB")
    print_header(titles, "ll" + "r" * (len(titles) - 2))


def print_size(row: dict, extra: dict[str, str] | None, device: str) -> None:
    cells = [
        f"{row['engine']} {extra or ''}{'' if device == 'cpu' else ' ' + device}",
        row["size"],
        f"{row['median_s']:.3f}",
        f"{row['min_s']:.3f}",
        f"{row['peak_rss_gib']:.2f}",
        row["threads"],
    ]
    if device != "cpu":
        gpu = row.get("peak_gpu_gib")
        cells.append("-" if gpu is None else f"{gpu:.2f}")
    print_row(cells)


def print_stages(rows: Sequence[dict]) -> None:
    """Milliseconds per stage: a row per stage, a column per (engine, size) timed."""
    from bgmatte.plugin.timing import STAGES

    if not rows:
        return
    print()
    heads = [f"{r['engine']} {r['size']} ms" for r in rows]
    print_header(("stage", *heads), "l" + "r" * len(rows))
    for name in (*STAGES, "other"):
        if any(name in r["stages_ms"] for r in rows):
            print_row([name, *(f"{r['stages_ms'].get(name, 0.0):.1f}" for r in rows)])
    print_row(["**whole call**", *(f"{1e3 * r['median_s']:.1f}" for r in rows)])


def speed(
    sizes: Sequence[str],
    frames: int,
    warmup: int,
    threads: int,
    engines: Sequence[str],
    extra: dict[str, str] | None = None,
    device: str = "cpu",
    stages: bool = False,
) -> list[dict]:
    """Run :func:`speed_child` in a fresh process per (engine, size); prints a table, and
    with ``stages`` the milliseconds of each stage."""
    rows = []
    print_table_header(device)
    for engine in engines:
        for size in sizes:
            got = time_in_child(size, frames, warmup, threads, engine, extra, device)
            if isinstance(got, str):
                print_row([engine, size, f"failed: {got}"])
                continue
            rows.append(got)
            print_size(got, extra, device)
    if stages:
        print_stages(rows)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="HD,4K", help="comma-separated: HD, 4K")
    parser.add_argument("--frames", type=int, default=20, help="timed frames (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first")
    parser.add_argument("--threads", type=int, default=2, help="torch / BLAS threads")
    parser.add_argument("--engines", default="network", help="comma-separated")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the network and the kernels)")
    parser.add_argument(
        "--stages", action="store_true", help="also print the milliseconds of each stage"
    )
    add_settings(parser)


def _run(args: argparse.Namespace) -> list[dict]:
    return speed(
        args.sizes.split(","),
        args.frames,
        args.warmup,
        args.threads,
        args.engines.split(","),
        settings(args),
        args.device,
        args.stages,
    )


BENCHMARK = Benchmark("speed", "seconds per HD / 4K frame and peak memory", _add_arguments, _run)
