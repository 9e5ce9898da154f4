"""Where a ``device = cuda`` call's time goes, by Python function: a cProfile of one
``bgmatte.matte`` call at HD and 4K after two warm-up calls, the top rows by own time and by
cumulative time. On a GPU the time a function waits for queued GPU work shows on whatever
synchronises (``.cpu()``, ``.item()``), so the rows name the host code that holds the frame
up: the stages still on the CPU, and the syncs between the GPU's.

    usage (on the device, after scripts/device_check.sh has assembled the package):
    python3 scripts/gpu_profile.py [--device cuda] [--rows 25] [--sizes HD,4K]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch

import bgmatte
from bgmatte.bench.speed import SIZES, synthetic_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--sizes", default="HD,4K")
    args = parser.parse_args()
    sync = torch.cuda.synchronize if args.device != "cpu" else (lambda: None)
    for size in args.sizes.split(","):
        plate, clean = synthetic_frame(*SIZES[size])
        for _ in range(2):
            _ = bgmatte.matte(plate, clean, device=args.device).foreground
        sync()
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        _ = bgmatte.matte(plate, clean, device=args.device).foreground
        sync()
        profile.disable()
        print(f"== {size}, {args.device}: one call {time.perf_counter() - start:.3f} s, profiled")
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(args.rows)
            rows = [line for line in text.getvalue().splitlines() if line.strip()]
            print(f"-- by {order}")
            print("\n".join(line[:160] for line in rows[-(args.rows + 1) :]))


if __name__ == "__main__":
    main()
