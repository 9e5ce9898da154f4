"""``bgmatte bench temporal``: generated moving-subject shots
(:mod:`bgmatte.bench.scenes.moving`, seeded) rendered through the node with each frame alone
(temporal_radius 0) and with the temporal window; per setting the flicker (dtSSD,
:func:`bgmatte.bench.metrics.dtssd`) and the mean SAD over the frames, and the ratio of the
flickers; per speed the steady floor (:func:`steady_floor`): the dtSSD a matte with the
per-frame errors and no flicker at all would score."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bgmatte.bench.command import Benchmark, add_settings, parse_size, settings
from bgmatte.bench.table import print_header, print_row

if TYPE_CHECKING:
    from bgmatte.bench.scenes.moving import MovingShot
    from bgmatte.host_bridge.arrays import ArrayFetcher


def shot_fetcher(shot: MovingShot) -> ArrayFetcher:
    """The node's inputs for a generated moving shot: plates as frames 1..N."""
    from bgmatte.host_bridge.arrays import ArrayFetcher

    return ArrayFetcher(
        plate={i + 1: p for i, p in enumerate(shot.plates)}, clean_plate=shot.clean_plate
    )


def render_alphas(
    fetcher: ArrayFetcher, frames: int, radius: int, extra: Mapping[str, object]
) -> tuple[list[np.ndarray], float]:
    """Frames 1..``frames`` through a node with ``temporal_radius`` = ``radius``; the alphas
    and the seconds per frame."""
    from bgmatte.plugin.node import Node

    node = Node({**extra, "temporal_radius": radius, "output": "alpha"})
    t0 = time.perf_counter()
    alphas = [node.render(f, fetcher)["alpha"][..., 0] for f in range(1, frames + 1)]
    return alphas, (time.perf_counter() - t0) / frames


def steady_floor(shot: MovingShot, alphas: Sequence[np.ndarray]) -> float:
    """The dtSSD of a matte with the per-frame errors of ``alphas`` and no flicker at all:
    frame k's error (alpha - truth) carried exactly along the subject's true motion and added
    to every frame's truth (so it moves with the subject, as a perfectly steady matte's
    errors would), averaged over k.

    dtSSD measures the error of alpha's frame-to-frame change, and an error that moves with
    the subject changes from frame to frame too, so no temporal filter that keeps the
    per-frame accuracy goes below this; only a more accurate per-frame matte does.
    """
    from bgmatte.bench import metrics

    n = len(alphas)
    truth = shot.alphas
    per_source = []
    for k in range(n):
        error = alphas[k] - truth[k]
        steady = [truth[i] + shot.carried(error, k, i) for i in range(n)]
        per_source.append(metrics.dtssd(steady, truth))
    return float(np.mean(per_source))


def score_radius(
    shot: MovingShot,
    speed: float,
    radius: int,
    alphas: Sequence[np.ndarray],
    seconds: float,
    base: dict | None,
) -> dict:
    """One setting's row; ``base`` is the same shot's radius-0 row (None: this is it, and
    its steady floor is computed here)."""
    from bgmatte.bench import metrics

    flicker = metrics.dtssd(alphas, shot.alphas)
    return {
        "speed": speed,
        "radius": radius,
        "dtssd": flicker,
        "ratio": flicker / (flicker if base is None else base["dtssd"]),
        "sad": float(
            np.mean([metrics.sad(a, t) for a, t in zip(alphas, shot.alphas, strict=True)])
        ),
        "seconds": seconds,
        "floor": steady_floor(shot, alphas) if base is None else base["floor"],
    }


def print_table_header() -> None:
    titles = (
        "speed px/frame",
        "temporal_radius",
        "dtSSD",
        "ratio to radius 0",
        "mean SAD",
        "s/frame",
        "steady floor",
        "floor / radius 0",
    )
    print_header(titles, "rrrrrrrr")


def print_setting(row: dict, base: dict) -> None:
    print_row(
        [
            f"{row['speed']:.2f}",
            row["radius"],
            *(f"{row[k]:.3f}" for k in ("dtssd", "ratio", "sad", "seconds", "floor")),
            f"{row['floor'] / base['dtssd']:.3f}",
        ]
    )


def temporal(
    frames: int,
    height: int,
    width: int,
    speeds: Sequence[float],
    radii: Sequence[int],
    seed: int,
    extra: Mapping[str, object],
) -> list[dict]:
    """Run the temporal benchmark (see module docstring); prints a table, returns the rows."""
    from bgmatte.bench.scenes.moving import make_moving_shot

    rows = []
    print_table_header()
    for speed in speeds:
        shot = make_moving_shot(frames, height, width, speed, seed)
        fetcher = shot_fetcher(shot)
        base: dict | None = None
        for radius in (0, *[r for r in radii if r]):
            alphas, seconds = render_alphas(fetcher, frames, radius, extra)
            row = score_radius(shot, speed, radius, alphas, seconds, base)
            if base is None:
                base = row
            rows.append(row)
            print_setting(row, base)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=12, help="frames per shot")
    parser.add_argument(
        "--size", type=parse_size, default="180x320", help="HEIGHTxWIDTH of each shot"
    )
    parser.add_argument(
        "--speeds", default="0.25,0.5,1.0", help="subject px/frame, comma-separated"
    )
    parser.add_argument("--radii", default="1,2,3", help="temporal radii to compare with 0")
    parser.add_argument("--seed", type=int, default=11, help="seed of the shots")
    parser.add_argument("--json", help="also write the rows as JSON here")
    add_settings(parser)


def _run(args: argparse.Namespace) -> list[dict]:
    height, width = args.size
    speeds = [float(v) for v in args.speeds.split(",")]
    radii = [int(v) for v in args.radii.split(",")]
    return temporal(args.frames, height, width, speeds, radii, args.seed, settings(args))


BENCHMARK = Benchmark("temporal", "flicker (dtSSD) and SAD on moving shots", _add_arguments, _run)
