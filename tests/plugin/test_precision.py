"""The network's float type on the CPU: chosen by measurement, cached per machine, and bf16
really runs in bfloat16 when chosen (close to float32, not equal to it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.plugin.model import precision


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-machine cache, and no choice remembered by this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision, "_chosen", {})
    return tmp_path / "bgmatte" / "precision.json"


def test_bf16_is_chosen_only_where_it_is_clearly_faster() -> None:
    assert precision.choose({"fp32": 10.0, "bf16": 2.0}) == "bf16"  # AMX: ~6x faster
    assert precision.choose({"fp32": 10.0, "bf16": 9.0}) == "fp32"  # a tie keeps fp32
    assert precision.choose({"fp32": 10.0, "bf16": 150.0}) == "fp32"  # AVX2: emulated


def test_auto_measures_once_per_machine_and_keeps_it_on_disk(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return {"fp32": 10.0, "bf16": 2.0}

    monkeypatch.setattr(precision, "measure", measure)
    assert precision.cpu_precision("auto") == "bf16"
    assert precision.cpu_precision("auto") == "bf16"
    assert len(calls) == 1
    saved = json.loads(cache.read_text())
    assert saved == {precision.fingerprint(): {"fp32": 10.0, "bf16": 2.0, "choice": "bf16"}}
    monkeypatch.setattr(precision, "_chosen", {})  # a new process on the same machine
    assert precision.cpu_precision("auto") == "bf16"
    assert len(calls) == 1  # read from the cache, not measured again
    assert precision.cpu_precision("fp32") == "fp32"  # a forced setting measures nothing
    assert len(calls) == 1


def test_a_damaged_or_unwritable_cache_costs_a_measurement_not_an_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "measure", lambda: {"fp32": 1.0, "bf16": 5.0})
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert precision.cpu_precision("auto") == "fp32"
    assert json.loads(cache.read_text())[precision.fingerprint()]["choice"] == "fp32"
    monkeypatch.setattr(precision, "_chosen", {})
    cache.unlink()
    cache.parent.chmod(0o500)  # read-only
    try:
        assert precision.cpu_precision("auto") == "fp32"
    finally:
        cache.parent.chmod(0o700)


def test_the_measurement_times_both_types() -> None:
    times = precision.measure()
    assert set(times) == {"fp32", "bf16"} and all(t > 0 for t in times.values())


def test_bf16_runs_the_network_in_bfloat16(small_shot: DemoShot) -> None:
    fp32 = bgmatte.matte(small_shot.plate, small_shot.clean_plate, precision="fp32").alpha
    bf16 = bgmatte.matte(small_shot.plate, small_shot.clean_plate, precision="bf16").alpha
    diff = np.abs(fp32 - bf16)
    assert diff.max() > 0  # it did run in another type
    # Close: bfloat16 keeps 8 bits of mantissa; where a refined patch is chosen differently a
    # few pixels move more (bench quality compares the two on the dev and validation cases).
    assert diff.mean() < 0.005, diff.mean()
    assert np.mean(diff > 0.05) < 0.005, np.mean(diff > 0.05)
