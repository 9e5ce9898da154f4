"""Stage times: exclusive per stage, summing to the call, and nothing recorded unless asked."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin import timing
from bgmatte.plugin.node import Node

from .frames import Frames


def test_nested_stages_are_exclusive_and_add_up() -> None:
    t0 = time.perf_counter()
    with timing.record() as spent:
        with timing.stage("align"):
            time.sleep(0.02)
            with timing.stage("exposure"):
                time.sleep(0.03)
            time.sleep(0.01)
        time.sleep(0.01)
    whole = time.perf_counter() - t0
    assert spent["exposure"] >= 0.03 and spent["align"] >= 0.03 and spent["other"] >= 0.01
    # exclusive: were exposure's time also align's, the stages would add up to more than
    # the call by 0.03 s
    assert sum(spent.values()) == pytest.approx(whole, abs=0.005)


def test_outside_a_record_a_stage_records_nothing() -> None:
    with timing.stage("align"):
        pass
    with timing.record() as spent:
        pass
    assert spent == {"other": pytest.approx(0.0, abs=0.01)}


def test_a_frame_reports_its_stages(small_shot: DemoShot) -> None:
    fetcher = Frames(plate=small_shot.plate, clean_plate=small_shot.clean_plate)
    t0 = time.perf_counter()
    with timing.record() as spent:
        got = Node({"engine": "network"}).render(1, fetcher, passes=["rgba"])
    whole = time.perf_counter() - t0
    assert np.isfinite(got["rgba"]).all()
    expected = {"io", "validate", "align", "exposure", "shadow", "prior", "base", "refine"}
    expected |= {"edges", "engine", "light"}
    assert expected | {"unmix", "passes", "other"} == set(spent)
    assert set(spent) <= {*timing.STAGES, "other"}
    assert sum(spent.values()) == pytest.approx(whole, rel=0.05, abs=0.01)
