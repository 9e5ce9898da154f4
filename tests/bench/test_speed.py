""":mod:`bgmatte.bench.speed`: its tables (the timing itself runs in ``bgmatte bench speed``,
not in the tests: times are benchmarks, not assertions)."""

from __future__ import annotations

import pytest

from bgmatte.bench import speed

ROW = {
    "engine": "network",
    "size": "HD",
    "median_s": 0.3713,
    "min_s": 0.3691,
    "peak_rss_gib": 1.99,
    "threads": 2,
    "stages_ms": {"align": 63.8, "edges": 16.7},
}


def test_the_cpu_table_has_no_gpu_column(capsys: pytest.CaptureFixture[str]) -> None:
    speed.print_table_header("cpu")
    speed.print_size({**ROW, "peak_gpu_gib": None}, None, "cpu")
    assert capsys.readouterr().out.splitlines() == [
        "| engine | size | median s/frame | min s/frame | peak RSS GiB | threads |",
        "|---|---|---:|---:|---:|---:|",
        "| network  | HD | 0.371 | 0.369 | 1.99 | 2 |",
    ]


def test_a_gpu_table_says_how_much_gpu_memory_the_frames_held(
    capsys: pytest.CaptureFixture[str],
) -> None:
    speed.print_table_header("cuda")
    speed.print_size({**ROW, "peak_gpu_gib": 3.456}, None, "cuda")
    speed.print_size({**ROW, "peak_gpu_gib": None}, {"align": "off"}, "cuda")
    assert capsys.readouterr().out.splitlines() == [
        "| engine | size | median s/frame | min s/frame | peak RSS GiB | threads | peak GPU GiB |",
        "|---|---|---:|---:|---:|---:|---:|",
        "| network  cuda | HD | 0.371 | 0.369 | 1.99 | 2 | 3.46 |",
        "| network {'align': 'off'} cuda | HD | 0.371 | 0.369 | 1.99 | 2 | - |",
    ]
    assert speed.gpu_memory_peak_gib("cpu") is None


def test_the_stage_table_has_a_column_per_row_and_the_whole_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    speed.print_stages(
        [ROW, {**ROW, "size": "4K", "median_s": 0.8945, "stages_ms": {"edges": 58.2}}]
    )
    assert capsys.readouterr().out.splitlines() == [
        "",
        "| stage | network HD ms | network 4K ms |",
        "|---|---:|---:|",
        "| align | 63.8 | 0.0 |",
        "| edges | 16.7 | 58.2 |",
        "| **whole call** | 371.3 | 894.5 |",
    ]
