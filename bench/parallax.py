"""``bgmatte bench parallax``: generated hand-held shots
(:func:`bgmatte.bench.scenes.shake.make_parallax_shot`) whose near layer moves further than
the far background, so alignment leaves it misregistered by the parallax; per engine and
parallax, the mean alpha on the true background (all of it, and the near layer's part) and
on the solid subject."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bgmatte.bench.command import Benchmark, add_settings, parse_size, settings
from bgmatte.bench.table import print_header, print_row

if TYPE_CHECKING:
    from bgmatte.bench.scenes.shake import ParallaxShot


def make_shots(
    shots: int, height: int, width: int, parallax_px: float, seed: int
) -> list[ParallaxShot]:
    """``shots`` shots (seeds ``seed``, ``seed + 1``, ...) with a 4 px shake and the near
    layer shifted ``parallax_px`` further."""
    from bgmatte.bench.scenes.shake import make_parallax_shot

    return [make_parallax_shot(height, width, 4.0, parallax_px, seed + i) for i in range(shots)]


def score_engine(
    shots: Sequence[ParallaxShot], parallax_px: float, engine: str, extra: Mapping[str, object]
) -> dict:
    """One engine's mean alpha over ``shots``: on the background, on its near layer, and on
    the solid subject."""
    import bgmatte

    bg, near, solid = [], [], []
    for shot in shots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, **extra).alpha
        clear = shot.alpha == 0
        bg.append(float(a[clear].mean()))
        near.append(float(a[clear & (shot.near > 0.5)].mean()))
        solid.append(float(a[shot.alpha >= 0.999].mean()))
    return {
        "parallax_px": parallax_px,
        "engine": engine,
        "background": float(np.mean(bg)),
        "near": float(np.mean(near)),
        "subject": float(np.mean(solid)),
    }


def print_table_header() -> None:
    titles = (
        "parallax px",
        "engine",
        "alpha on background",
        "on near layer",
        "on solid subject",
    )
    print_header(titles, "rlrrr")


def print_engine(row: dict) -> None:
    print_row(
        [
            f"{row['parallax_px']:.1f}",
            row["engine"],
            *(f"{row[k]:.4f}" for k in ("background", "near", "subject")),
        ]
    )


def parallax_shots(
    shots: int,
    height: int,
    width: int,
    parallaxes: Sequence[float],
    engines: Sequence[str],
    seed: int,
    extra: Mapping[str, object],
) -> list[dict]:
    """Run the parallax benchmark (see module docstring); prints a table, returns the rows."""
    rows = []
    print_table_header()
    for px in parallaxes:
        made = make_shots(shots, height, width, px, seed)
        for engine in engines:
            row = score_engine(made, px, engine, extra)
            rows.append(row)
            print_engine(row)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shots", type=int, default=4, help="generated shots per parallax")
    parser.add_argument("--size", type=parse_size, default="240x320", help="HEIGHTxWIDTH")
    parser.add_argument("--parallax", default="0,2,4,6,8", help="near-layer shifts, px")
    parser.add_argument("--engines", default="network,classical", help="comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first shot")
    parser.add_argument("--json", help="also write the rows as JSON here")
    add_settings(parser)


def _run(args: argparse.Namespace) -> list[dict]:
    height, width = args.size
    return parallax_shots(
        args.shots,
        height,
        width,
        [float(v) for v in args.parallax.split(",")],
        args.engines.split(","),
        args.seed,
        settings(args),
    )


BENCHMARK = Benchmark("parallax", "background alpha under residual parallax", _add_arguments, _run)
