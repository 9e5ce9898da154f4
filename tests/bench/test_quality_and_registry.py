"""``bgmatte bench quality`` on a case folder made here: figures and contact sheets; and the
benchmark registry against the ``bgmatte bench`` subcommands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bgmatte
from bgmatte.bench import metrics
from bgmatte.bench.quality import quality
from bgmatte.bench.registry import BENCHMARKS
from bgmatte.bench.scenes.demo_shot import make_demo_shot
from bgmatte.host_bridge.cli import main
from bgmatte.host_bridge.imageio import write_exr


def test_quality_scores_cases_and_writes_sheets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = make_demo_shot(72, 96, seed=4)
    case = tmp_path / "cases" / "tiny01"
    case.mkdir(parents=True)
    write_exr(str(case / "plate.exr"), [("", shot.plate)], half=False)
    write_exr(str(case / "clean_plate.exr"), [("", shot.clean_plate)], half=False)
    write_exr(str(case / "alpha_gt.exr"), [("", shot.alpha[..., None])], half=False)
    write_exr(str(case / "fg_gt.exr"), [("", shot.foreground)], half=False)
    sheets = tmp_path / "sheets"
    rows = quality([str(tmp_path / "cases")], ["classical"], {}, str(sheets))
    got = bgmatte.matte(shot.plate, shot.clean_plate, engine="classical")
    ref = got.alpha
    assert rows[0]["case"] == "tiny01"
    fg_mse = metrics.foreground_mse(got.foreground, shot.foreground, shot.alpha)
    assert rows[0]["fg_mse"] == pytest.approx(fg_mse, rel=1e-6) and 0 < fg_mse < 100
    assert rows[0]["sad"] == pytest.approx(metrics.sad(ref, shot.alpha), rel=1e-6)
    assert rows[0]["grad"] == pytest.approx(metrics.gradient_error(ref, shot.alpha), rel=1e-6)
    assert (sheets / "tiny01_classical.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert f"| tiny01 | classical | {rows[0]['sad']:.3f} |" in out
    assert "| **mean** | classical |" in out
    assert np.isfinite(rows[0]["conn"])
    assert rows[0]["strand"] == metrics.strand_recall(ref, shot.alpha)
    assert 0.0 < rows[0]["strand"] <= 1.0  # the demo subject's hair


def test_sad_by_alpha_splits_the_sad_into_over_and_under_per_bin() -> None:
    true = np.array([[0.0, 0.0, 0.5, 0.5], [0.97, 1.0, 1.0, 0.1]], np.float32)
    pred = np.array([[0.0, 0.2, 0.7, 0.4], [1.0, 0.9, 1.0, 0.1]], np.float32)
    bins = metrics.sad_by_alpha(pred, true)
    assert sum(o + u for *_, o, u in bins) == pytest.approx(metrics.sad(pred, true))
    by_lo = {lo: (f, o * 1000, u * 1000) for lo, _, f, o, u in bins}
    assert by_lo[0.0] == pytest.approx((0.25, 0.2, 0.0))  # a false positive on background
    assert by_lo[0.4] == pytest.approx((0.25, 0.2, 0.1))  # soft: one over, one under
    assert by_lo[0.95] == pytest.approx((0.125, 0.03, 0.0))
    assert by_lo[1.0 - 1e-6] == pytest.approx((0.25, 0.0, 0.1))  # a hole in the solid core
    assert sum(f for _, _, f, _, _ in bins) == pytest.approx(1.0)


def test_quality_by_alpha_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = make_demo_shot(48, 64, seed=5)
    case = tmp_path / "c01"
    case.mkdir()
    write_exr(str(case / "plate.exr"), [("", shot.plate)], half=False)
    write_exr(str(case / "clean_plate.exr"), [("", shot.clean_plate)], half=False)
    write_exr(str(case / "alpha_gt.exr"), [("", shot.alpha[..., None])], half=False)
    rows = quality([str(case)], ["classical"], {}, by_alpha=True)
    assert sum(o + u for *_, o, u in rows[0]["by_alpha"]) == pytest.approx(rows[0]["sad"], rel=1e-5)
    out = capsys.readouterr().out
    assert "| case | engine | 0 | [0.00, 0.05) |" in out
    assert "| c01 | classical | +" in out


def test_strand_recall_counts_thin_structure_only() -> None:
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    disc = np.clip(20.5 - np.hypot(yy - 32, xx - 20), 0, 1)  # solid, a 1-px soft edge
    true = disc.copy()
    true[:, 50] = 0.6  # a one-pixel strand
    true[:, 51] = 0.2  # its anti-aliased side
    mask = metrics.strand_mask(true)
    assert mask[:, 50].all() and mask[:, 51].all()
    assert not mask[:, :45].any()  # the disc's soft edge is not a strand
    assert metrics.strand_recall(true, true) == 1.0
    dropped = disc  # the strand keyed as background
    assert metrics.strand_recall(dropped, true) == 0.0
    close = true + 0.15 * (xx == 50)  # within 0.2: recovered
    assert metrics.strand_recall(close, true) == 1.0
    half = true.copy()
    half[32:, 50:52] = 0.0  # half of it dropped
    assert metrics.strand_recall(half, true) == pytest.approx(0.5)
    assert np.isnan(metrics.strand_recall(disc, disc))  # no thin structure: no figure


def test_foreground_mse_counts_every_pixel_where_the_subject_shows() -> None:
    true_alpha = np.array([[0.0, 0.01, 1.0]], np.float32)
    true = np.zeros((1, 3, 3), np.float32)
    pred = np.zeros((1, 3, 3), np.float32)
    pred[0, 0] = 5.0  # background: not counted
    pred[0, 1] = 0.3  # faint subject: counted
    assert metrics.foreground_mse(pred, true, true_alpha) == pytest.approx(0.09 / 2 * 1000)
    assert np.isnan(metrics.foreground_mse(pred, true, np.zeros((1, 3), np.float32)))


def test_every_registered_benchmark_is_a_bench_subcommand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert list(BENCHMARKS) == [
        "quality",
        "speed",
        "align",
        "temporal",
        "parallax",
        "adapt",
        "cases",
        "farm",
        "shadow",
    ]
    for name, benchmark in BENCHMARKS.items():
        assert benchmark.name == name
        with pytest.raises(SystemExit) as exit_:
            main(["bench", name, "--help"])
        assert exit_.value.code == 0
        assert f"usage: bgmatte bench {name} " in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "nonesuch"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nonesuch'" in capsys.readouterr().err
