"""``bgmatte bench align``: N generated hand-held shots (:mod:`bgmatte.bench.scenes.shake`,
seeded) with a known camera shake; per shot the true shake, the alignment's median residual
against the true homography over the visible background, and the matte SAD with the shake
(align auto) against the same shot without shake (and with align off, for scale); then the
mean."""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bgmatte.bench.command import Benchmark, parse_size
from bgmatte.bench.table import means, print_header, print_row

if TYPE_CHECKING:
    from bgmatte.bench.scenes.shake import ShakenShot

_MEANS = ("shake_px", "residual_px", "sad_shake", "sad_still", "ratio", "sad_off", "seconds")


def make_shots(
    shots: int, height: int, width: int, max_shake: float, seed: int
) -> Iterator[ShakenShot]:
    """The shots one by one, shot i with seed ``seed + i`` and a shake drawn up to
    ``max_shake`` px."""
    from bgmatte.bench.scenes.shake import make_shaken_shot

    rng = np.random.default_rng(seed)
    for i in range(shots):
        yield make_shaken_shot(height, width, float(rng.uniform(0.0, max_shake)), seed + i)


def residual_px(shot: ShakenShot, homography: np.ndarray, valid: np.ndarray) -> float:
    """Median distance between where ``homography`` and the true one map the visible
    background (a grid of points, every 4 px)."""
    from bgmatte.bench.scenes.shake import apply_homography, grid_points

    height, width = shot.alpha.shape
    pts = grid_points(height, width, 4)
    ix = pts.astype(int)
    keep = (shot.alpha[ix[:, 1], ix[:, 0]] == 0) & valid[ix[:, 1], ix[:, 0]]
    moved = apply_homography(homography, pts[keep]) - apply_homography(shot.homography, pts[keep])
    return float(np.median(np.linalg.norm(moved, axis=1)))


def score_shot(index: int, shot: ShakenShot, engine: str) -> dict:
    """Align and matte one shot (with the shake, without it, and with align off)."""
    import bgmatte
    from bgmatte.bench import metrics
    from bgmatte.plugin.align import align

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        got = align(shot.plate, shot.clean_plate, "auto")
        seconds = time.perf_counter() - t0
        shaken = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, align="auto")
    residual = residual_px(shot, got.homography, got.valid)
    still = bgmatte.matte(shot.plate, shot.steady_clean_plate, engine=engine, align="off")
    off = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, align="off")
    row: dict[str, Any] = {
        "shot": index,
        "shake_px": shot.shake_px,
        "status": got.report.status,
        "inliers": got.report.inliers,
        "residual_px": residual,
        "sad_shake": metrics.sad(shaken.alpha, shot.alpha),
        "sad_still": metrics.sad(still.alpha, shot.alpha),
        "sad_off": metrics.sad(off.alpha, shot.alpha),
        "seconds": seconds,
        "warnings": [str(w.message) for w in caught],
    }
    row["ratio"] = row["sad_shake"] / row["sad_still"]
    return row


def print_table_header() -> None:
    titles = (
        "shot",
        "true shake px",
        "status",
        "inliers",
        "residual median px",
        "SAD shake (auto)",
        "SAD no shake",
        "ratio",
        "SAD shake (align off)",
        "align s",
    )
    print_header(titles, "lrlrrrrrrr")


def print_shot(row: dict) -> None:
    print_row(
        [
            row["shot"],
            f"{row['shake_px']:.2f}",
            row["status"],
            row["inliers"],
            *(f"{row[k]:.3f}" for k in ("residual_px", "sad_shake", "sad_still", "ratio")),
            f"{row['sad_off']:.3f}",
            f"{row['seconds']:.2f}",
        ]
    )
    for message in row["warnings"]:
        print(f"  warning: {message}")


def print_means(rows: Sequence[dict]) -> None:
    mean = means(rows, _MEANS)
    print_row(
        [
            "**mean**",
            f"{mean['shake_px']:.2f}",
            "",
            "",
            *(f"{mean[k]:.3f}" for k in ("residual_px", "sad_shake", "sad_still", "ratio")),
            f"{mean['sad_off']:.3f}",
            f"{mean['seconds']:.2f}",
        ]
    )


def align_shots(
    shots: int, height: int, width: int, max_shake: float, seed: int, engine: str
) -> list[dict]:
    """Run the alignment benchmark (see module docstring); prints a table, returns the rows."""
    rows = []
    print_table_header()
    for i, shot in enumerate(make_shots(shots, height, width, max_shake, seed)):
        row = score_shot(i, shot, engine)
        rows.append(row)
        print_shot(row)
    print_means(rows)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shots", type=int, default=8, help="generated shots")
    parser.add_argument(
        "--size", type=parse_size, default="360x640", help="HEIGHTxWIDTH of each shot"
    )
    parser.add_argument("--max-shake", type=float, default=10.0, help="largest shake, px")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shots")
    parser.add_argument("--engine", default="classical", help="engine for the SAD figures")
    parser.add_argument("--json", help="also write the rows as JSON here")


def _run(args: argparse.Namespace) -> list[dict]:
    height, width = args.size
    return align_shots(args.shots, height, width, args.max_shake, args.seed, args.engine)


BENCHMARK = Benchmark("align", "alignment residual and SAD on shaken shots", _add_arguments, _run)
