"""``bgmatte bench adapt``: a generated moving shot with a look the training data never has
(``--look neon``, a magenta-lit subject on a dim teal scene, or ``--look backlit``, against a
bright window), matted with the shipped model (default settings), then ``bgmatte adapt`` on
its own frames, then matted again with the adapted weights: SAD per frame before and after,
the teacher's SAD for scale, and the adaptation's wall time."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bgmatte.bench.command import Benchmark, parse_size
from bgmatte.bench.table import means, print_header, print_row
from bgmatte.bench.temporal import shot_fetcher

if TYPE_CHECKING:
    from bgmatte.host_bridge.arrays import ArrayFetcher
    from bgmatte.plugin.training.adapt import ShotTensors

_MEANS = ("sad_before", "sad_after", "sad_teacher")


@dataclass(frozen=True)
class Adapted:
    """What adapting the shipped model to the shot made."""

    data: ShotTensors  # the teacher's mattes and flows the student learnt from
    weights: str  # the adapted weights file
    summary: dict[str, Any]  # bgmatte.plugin.training.adapt.adapt's summary
    prepare_s: float  # teacher and flows, wall seconds
    adapt_s: float  # the fine-tuning, wall seconds


def adapt_to_shot(
    fetcher: ArrayFetcher, frames: Sequence[int], cfg: Mapping[str, Any], out: str
) -> Adapted:
    """Teach the shipped model the shot's own frames, as ``bgmatte adapt`` does; weights and
    logs under ``out``."""
    from bgmatte.plugin.engines.network import weights_path
    from bgmatte.plugin.training.adapt import adapt, prepare, teacher_frame, teacher_node

    weights = weights_path("")
    teacher = teacher_node({}, weights, cfg)
    t0 = time.perf_counter()
    data = prepare(lambda f: teacher_frame(teacher, fetcher, f), frames)
    prep = time.perf_counter() - t0
    Path(out).mkdir(parents=True, exist_ok=True)
    adapted = str(Path(out) / "adapted.safetensors")
    t0 = time.perf_counter()
    summary = adapt(data, weights, adapted, cfg, Path(out) / "log")
    return Adapted(data, adapted, summary, prep, time.perf_counter() - t0)


def score_frames(
    fetcher: ArrayFetcher, frames: Sequence[int], truth: Sequence[np.ndarray], run: Adapted
) -> Iterator[dict]:
    """Frame by frame, the SAD of the shipped model, of the adapted one and of the teacher."""
    from bgmatte.bench import metrics
    from bgmatte.plugin.node import Node

    before, after = Node({"output": "alpha"}), Node({"output": "alpha", "weights": run.weights})
    for i, f in enumerate(frames):
        yield {
            "frame": f,
            "sad_before": metrics.sad(before.render(f, fetcher)["alpha"][..., 0], truth[i]),
            "sad_after": metrics.sad(after.render(f, fetcher)["alpha"][..., 0], truth[i]),
            "sad_teacher": metrics.sad(run.data.teacher[i, 0].numpy(), truth[i]),
        }


def print_table_header(look: str, frames: int) -> None:
    titles = ("frame", "SAD shipped", "SAD adapted", "SAD teacher")
    print_header(titles, "rrrr", note=f"  (look {look}, {frames} frames)")


def print_frame(row: Mapping[str, Any]) -> None:
    print_row([row["frame"], *(f"{row[k]:.3f}" for k in _MEANS)])


def print_summary(rows: Sequence[dict], run: Adapted, out: str) -> None:
    mean = means(rows, _MEANS)
    print_row(["**mean**", *(f"{mean[k]:.3f}" for k in _MEANS)])
    print(
        f"adapt: {run.summary['steps']} steps in {run.adapt_s:.0f} s "
        f"(teacher and flows {run.prepare_s:.0f} s), "
        f"weights {run.weights}, report {Path(out) / 'log' / 'report.html'}"
    )


def adapt_shot(
    frames: int,
    height: int,
    width: int,
    look: str,
    seed: int,
    config: str | None,
    steps: int | None,
    out: str,
) -> list[dict]:
    """Run the adaptation benchmark (see module docstring); prints a table, returns the rows."""
    from bgmatte.bench.scenes.moving import make_moving_shot
    from bgmatte.plugin.training.adapt import load_adapt_config

    cfg = load_adapt_config(config)
    if steps:
        cfg["steps"] = steps
    shot = make_moving_shot(frames, height, width, speed=0.5, seed=seed, look=look)
    fetcher = shot_fetcher(shot)
    numbers = list(range(1, frames + 1))
    run = adapt_to_shot(fetcher, numbers, cfg, out)
    rows = []
    print_table_header(look, frames)
    for row in score_frames(fetcher, numbers, shot.alphas, run):
        rows.append(row)
        print_frame(row)
    print_summary(rows, run, out)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=8, help="frames of the generated shot")
    parser.add_argument("--size", type=parse_size, default="180x320", help="HEIGHTxWIDTH")
    parser.add_argument(
        "--look", default="neon", help="the shot's look: neon or backlit (unseen), or day"
    )
    parser.add_argument("--config", help="TOML with an [adapt] section (default: the defaults)")
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument("--seed", type=int, default=3, help="seed of the shot")
    parser.add_argument("--out", default="runs/bench_adapt", help="folder for weights and logs")
    parser.add_argument("--json", help="also write the rows as JSON here")


def _run(args: argparse.Namespace) -> list[dict]:
    height, width = args.size
    return adapt_shot(
        args.frames, height, width, args.look, args.seed, args.config, args.steps, args.out
    )


BENCHMARK = Benchmark(
    "adapt", "SAD per frame before/after adapting to a shot", _add_arguments, _run
)
