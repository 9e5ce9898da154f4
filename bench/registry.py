"""Every ``bgmatte bench`` subcommand, in the order ``bgmatte bench --help`` lists them; the
command line makes one subparser per entry from its :class:`~bgmatte.bench.command.Benchmark`.

The benchmark modules import only the standard library and numpy at import time (torch, the
node and the scenes load when a benchmark runs), so building the parser stays cheap."""

from __future__ import annotations

from bgmatte.bench import adapt, align, cases, farm, parallax, quality, shadow, speed, temporal
from bgmatte.bench.command import Benchmark

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        quality.BENCHMARK,
        speed.BENCHMARK,
        align.BENCHMARK,
        temporal.BENCHMARK,
        parallax.BENCHMARK,
        adapt.BENCHMARK,
        cases.BENCHMARK,
        farm.BENCHMARK,
        shadow.BENCHMARK,
    )
}
