"""``bgmatte adapt``: a few self-supervised steps on a tiny generated shot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bgmatte.bench.scenes.moving import make_moving_shot
from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.arrays import ArrayFetcher
from bgmatte.host_bridge.cli import main
from bgmatte.host_bridge.imageio import write_exr
from bgmatte.plugin.node import Node
from bgmatte.plugin.training.adapt import load_adapt_config
from bgmatte.plugin.training.average import update_average


@pytest.fixture(scope="module")
def shot_files(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[np.ndarray], np.ndarray]:
    folder = tmp_path_factory.mktemp("adapt")
    shot = make_moving_shot(3, height=48, width=64, speed=0.5, seed=8)
    for i, plate in enumerate(shot.plates):
        write_exr(str(folder / f"plate.{i + 1:04d}.exr"), [("", plate)], half=False)
    write_exr(str(folder / "clean.exr"), [("", shot.clean_plate)], half=False)
    return folder, shot.plates, shot.clean_plate


def test_a_few_steps_write_weights_logs_and_a_report(
    shot_files: tuple[Path, list[np.ndarray], np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, plates, clean = shot_files
    config = tmp_path / "adapt.toml"
    config.write_text("[adapt]\nsteps = 3\nbatch = 1\nlog_every = 1\nimage_every = 3\n")
    out = tmp_path / "shot.safetensors"
    rc = main(
        ["adapt", "--plate", str(folder / "plate.####.exr"), "--clean-plate",
         str(folder / "clean.exr"), "--config", str(config), "--out", str(out), "--quiet"]
    )  # fmt: skip
    assert rc == 0
    log = tmp_path / "shot_adapt"
    assert capsys.readouterr().out.startswith(f"bgmatte: adapted weights in {out} (3 steps on 3")
    assert out.is_file() and not list(tmp_path.glob(".*.tmp"))
    assert (log / "images" / "adapt_000003.png").is_file()
    assert list((log / "tensorboard").glob("events.out.tfevents.*"))
    report = (log / "report.html").read_text()
    for name in ("teacher", "composite", "adversarial_g", "temporal", "discriminator"):
        assert name in report
    # The adapted weights load through the node's weights param, and differ from the shipped.
    fetcher = ArrayFetcher(plate={i + 1: p for i, p in enumerate(plates)}, clean_plate=clean)
    adapted = Node({"weights": str(out), "output": "alpha"}).render(2, fetcher)["alpha"]
    shipped = Node({"output": "alpha"}).render(2, fetcher)["alpha"]
    assert adapted.shape == shipped.shape and not np.array_equal(adapted, shipped)


def test_config_errors_are_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[adapt]\nstep = 3\n")
    with pytest.raises(BgmatteError, match=re.escape("config: unknown adapt keys ['step']")):
        load_adapt_config(config)
    assert load_adapt_config(None)["steps"] == 300


def test_out_must_be_safetensors(
    shot_files: tuple[Path, list[np.ndarray], np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shot_files[0]
    rc = main(
        ["adapt", "--plate", str(folder / "plate.####.exr"), "--clean-plate",
         str(folder / "clean.exr"), "--out", str(folder / "shot.pth")]
    )  # fmt: skip
    assert rc == 2
    assert capsys.readouterr().err.strip() == (
        f"bgmatte: error: --out: {folder / 'shot.pth'} is not a .safetensors file; "
        "name it *.safetensors"
    )


def test_neon_look_relights_the_shot() -> None:
    day = make_moving_shot(1, height=32, width=48, seed=2)
    neon = make_moving_shot(1, height=32, width=48, seed=2, look="neon")
    np.testing.assert_array_equal(day.alphas[0], neon.alphas[0])  # same subject, new light
    assert neon.clean_plate.mean(axis=(0, 1))[0] < 0.2 * day.clean_plate.mean(axis=(0, 1))[0]
    with pytest.raises(ValueError, match="look 'dusk' is not one of"):
        make_moving_shot(1, look="dusk")


def test_backlit_look_puts_the_subject_against_a_bright_window() -> None:
    day = make_moving_shot(1, height=32, width=48, seed=2)
    backlit = make_moving_shot(1, height=32, width=48, seed=2, look="backlit")
    np.testing.assert_array_equal(day.alphas[0], backlit.alphas[0])
    assert (backlit.clean_plate.max(axis=2) > 1.0).mean() > 0.9
    solid = day.alphas[0] == 1.0
    assert backlit.plates[0][solid].mean() < 0.6 * day.plates[0][solid].mean()


def test_the_saved_weights_are_a_moving_average() -> None:
    import torch

    average, model = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.num_batches_tracked.fill_(7)
    update_average(average, model, 0.9)  # weight: 0.9 * 1 + 0.1 * 3
    torch.testing.assert_close(average.weight, torch.full((2,), 1.2))
    assert int(average.num_batches_tracked) == 7  # counters are copied, not averaged
