"""``bgmatte bench quality`` on a case folder made here: figures and contact sheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bgmatte
from bgmatte.host_bridge import bench
from bgmatte.plugin import metrics
from bgmatte.plugin.demo import make_demo_shot
from bgmatte.plugin.imageio import write_exr


def test_quality_scores_cases_and_writes_sheets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = make_demo_shot(72, 96, seed=4)
    case = tmp_path / "cases" / "tiny01"
    case.mkdir(parents=True)
    write_exr(str(case / "plate.exr"), [("", shot.plate)], half=False)
    write_exr(str(case / "clean_plate.exr"), [("", shot.clean_plate)], half=False)
    write_exr(str(case / "alpha_gt.exr"), [("", shot.alpha[..., None])], half=False)
    sheets = tmp_path / "sheets"
    rows = bench.quality([str(tmp_path / "cases")], ["classical"], {}, str(sheets))
    ref = bgmatte.matte(shot.plate, shot.clean_plate, engine="classical").alpha
    assert rows[0]["case"] == "tiny01"
    assert rows[0]["sad"] == pytest.approx(metrics.sad(ref, shot.alpha), rel=1e-6)
    assert rows[0]["grad"] == pytest.approx(metrics.gradient_error(ref, shot.alpha), rel=1e-6)
    assert (sheets / "tiny01_classical.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert f"| tiny01 | classical | {rows[0]['sad']:.3f} |" in out
    assert "| **mean** | classical |" in out
    assert np.isfinite(rows[0]["conn"])
