"""``bgmatte train`` end to end on a tiny config: files written, resume, determinism."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from bgmatte.errors import BgmatteError
from bgmatte.plugin.model.network import load_network
from bgmatte.plugin.model.refiner import detail_hint
from bgmatte.plugin.training import train as train_module
from bgmatte.plugin.training.losses import band_alpha_loss, matting_losses, unknown_band
from bgmatte.plugin.training.train import load_config, train, training_precision

CONFIG = """
[model]
backbone = "mobilenetv2"
width = 0.25
aspp_channels = 16
decoder_channels = [16, 16, 16, 16]
hidden = 8
segmentation = true
clamp_foreground = false
transfer = "asinh"
downsample = "area"
exact_crops = false

[train]
seed = 3
steps = 3
batch = 2
size = 64
warmup = 1
refine_sample_pixels = 256
log_every = 1
image_every = 3
checkpoint_every = 3
val_batch = 2
threads = 1
"""


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG)
    return path


def test_a_run_writes_weights_logs_report_and_images(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    weights = train(config, out)
    assert weights == out / "model.safetensors"
    model = load_network(weights)
    assert model.config.width == 0.25 and model.config.hidden == 8
    assert (out / "checkpoint.pt").is_file()
    assert (out / "images" / "stages_000003.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.html").read_text()
    assert "<svg" in report and "data:image/png;base64," in report
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_same_seed_same_weights_and_resume_continues(config: Path, tmp_path: Path) -> None:
    a = load_file(train(config, tmp_path / "a"))
    b = load_file(train(config, tmp_path / "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(config, tmp_path / "a", resume=True, steps=4)
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4


def test_ema_saves_the_average_and_resume_keeps_it(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "ema.toml"
    path.write_text(CONFIG.replace("steps = 3", "steps = 3\nema = 0.5"))
    saved = load_file(train(path, tmp_path / "run"))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    raw, average = state["model"], state["average"]
    assert all(torch.equal(saved[k], average[k]) for k in saved)
    floats = [k for k in raw if raw[k].dtype.is_floating_point and "running" not in k]
    assert any(not torch.equal(raw[k], average[k]) for k in floats)  # an average, not the last
    plain = load_file(train(config, tmp_path / "plain"))  # same seed, no average
    assert all(torch.equal(plain[k], raw[k]) for k in plain)  # the training itself unchanged
    train(path, tmp_path / "run", resume=True, steps=4)
    resumed = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert resumed["step"] == 4 and "average" in resumed


def test_unknown_train_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nstepz = 3\n")
    msg = (
        "config: unknown train keys ['stepz']; use ['backbone_scale', 'backbone_scales', "
        "'batch', 'batch_norm', 'checkpoint_every', 'device', 'ema', 'image_every', "
        "'log_every', 'lr', "
        "'precision', 'refine_detail', 'refine_sample_pixels', 'seed', 'size', 'steps', "
        "'threads', 'train_only', 'unknown_weight', 'val_batch', 'warmup', 'weight_decay', "
        "'workers']"
    )
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        load_config(path)


def test_training_precision_is_bf16_only_where_it_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    for measured in ("bf16", "fp32"):  # what this CPU's micro-benchmark chose
        monkeypatch.setattr(train_module, "cpu_precision", lambda _="auto", m=measured: m)
        assert training_precision("cpu", "auto", torch.float32) == measured
        assert training_precision("cpu", "fp32", torch.float32) == "fp32"
        assert training_precision("cpu", "bf16", torch.float32) == "bf16"
        assert training_precision("cuda:0", "auto", torch.float32) == "bf16"
        # a float64 model checks the maths to the bit: never autocast
        assert training_precision("cpu", "bf16", torch.float64) == "fp32"
    msg = "config: train precision 'fp16' is unknown; use auto, fp32 or bf16"
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        training_precision("cpu", "fp16", torch.float32)


def test_a_bf16_run_steps_in_bf16_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgmatte.plugin.model.network import MattingNetwork

    dtypes: list[torch.dtype] = []
    forward = MattingNetwork.forward

    def spy(self: MattingNetwork, *args: Any, **kwargs: Any) -> Any:
        conv = next(m for m in self.modules() if isinstance(m, torch.nn.Conv2d))
        seen = conv.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
        try:
            return forward(self, *args, **kwargs)
        finally:
            seen.remove()

    monkeypatch.setattr(MattingNetwork, "forward", spy)
    monkeypatch.setattr(train_module, "cpu_precision", lambda _="auto": "bf16")
    path = tmp_path / "bf16.toml"
    path.write_text(CONFIG.replace("steps = 3", "steps = 2"))
    with safe_open(str(train(path, tmp_path / "run")), "pt") as f:
        meta = f.metadata()
    assert dtypes and set(dtypes) == {torch.bfloat16}  # training steps and validation
    assert '"precision": "bf16"' in meta["train_config"]
    assert "steps_per_second" in (tmp_path / "run" / "report.html").read_text()


def test_train_only_the_refiner_keeps_the_base_as_loaded(config: Path, tmp_path: Path) -> None:
    first = load_file(train(config, tmp_path / "a"))
    path = tmp_path / "refiner.toml"
    path.write_text(CONFIG.replace("steps = 3", 'steps = 3\ntrain_only = "refiner"'))
    second = load_file(train(path, tmp_path / "b", init=tmp_path / "a" / "model.safetensors"))
    base = [k for k in first if not k.startswith("refiner.")]
    refiner = [k for k in first if k.startswith("refiner.") and "running" not in k]
    assert base and refiner
    # weights and batch-norm statistics of the base alike to the bit; the refiner trained
    assert all(torch.equal(first[k], second[k]) for k in base)
    assert any(not torch.equal(first[k], second[k]) for k in refiner)
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("steps = 3", 'steps = 3\ntrain_only = "decoder"'))
    msg = 'config: train_only \'decoder\' is unknown; use "" or "refiner"'
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        train(bad, tmp_path / "c")


def test_frozen_batch_norms_keep_their_statistics(config: Path, tmp_path: Path) -> None:
    first = load_file(train(config, tmp_path / "a"))
    init = tmp_path / "a" / "model.safetensors"
    path = tmp_path / "frozen.toml"
    path.write_text(CONFIG.replace("steps = 3", 'steps = 3\nbatch_norm = "frozen"'))
    frozen = load_file(train(path, tmp_path / "b", init=init))
    trained = load_file(train(config, tmp_path / "c", init=init))
    stats = [k for k in first if "running_" in k]
    weights = [k for k in first if k.startswith("backbone.") and "running" not in k]
    assert stats and weights
    assert all(torch.equal(first[k], frozen[k]) for k in stats)
    assert any(not torch.equal(first[k], trained[k]) for k in stats)  # as before, by default
    assert any(not torch.equal(first[k], frozen[k]) for k in weights)  # the base still learns
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("steps = 3", 'steps = 3\nbatch_norm = "fixed"'))
    msg = 'config: batch_norm \'fixed\' is unknown; use "train" or "frozen"'
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        train(bad, tmp_path / "d")


def _spy_forward(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, float, dict[str, Any]]]:
    """Record (training?, base scale, keyword arguments) of every network forward from now
    on, as they are at the call."""
    from bgmatte.plugin.model.network import MattingNetwork

    calls: list[tuple[bool, float, dict[str, Any]]] = []
    forward = MattingNetwork.forward

    def spy(self: MattingNetwork, *args: object, **kwargs: object) -> object:
        calls.append((self.training, self.backbone_scale, kwargs))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(MattingNetwork, "forward", spy)
    return calls


def test_backbone_scales_alternate_in_training_and_validation_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_forward(monkeypatch)
    path = tmp_path / "scales.toml"
    path.write_text(
        CONFIG.replace(
            "steps = 3", "steps = 4\nbackbone_scale = 0.25\nbackbone_scales = [0.5, 0.25]"
        )
    )
    train(path, tmp_path / "run")
    seen = [(training, scale) for training, scale, _ in calls]
    assert [s for training, s in seen if training] == [0.5, 0.25, 0.5, 0.25]
    assert {s for training, s in seen if not training} == {0.25}
    # one validation pass per logged step (1-4), shared with the images of steps 3 and 4
    assert sum(not training for training, _ in seen) == 4


def test_detail_hint_marks_what_the_base_grid_cannot_hold() -> None:
    alpha = torch.zeros(1, 1, 32, 32)
    alpha[..., 16:, :] = 1.0  # a wide solid region: smooth on the grid but at its edge
    alpha[..., 5, :] = 1.0  # a one-pixel wire
    hint = detail_hint(alpha, 0.25)
    assert hint[..., 5, :].min() > 0.7  # the wire: only the refiner can restore it
    assert hint[..., 24:, :].max() < 1e-6 and hint[..., 10:12, :].max() < 1e-6  # flat
    assert torch.equal(detail_hint(torch.full((1, 1, 8, 8), 0.5), 0.5), torch.zeros(1, 1, 8, 8))


def test_refine_detail_hints_training_steps_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_forward(monkeypatch)
    for detail, hinted in ((0.0, False), (1.0, True)):
        calls.clear()
        path = tmp_path / f"detail{detail}.toml"
        path.write_text(CONFIG.replace("steps = 3", f"steps = 2\nrefine_detail = {detail}"))
        train(path, tmp_path / f"run{detail}")
        seen = [(training, kw.get("refine_hint") is not None) for training, _, kw in calls]
        assert [h for training, h in seen if training] == [hinted, hinted]
        assert not any(h for training, h in seen if not training)  # validation as inference


def test_forked_data_workers_start_although_opencv_ran_here(tmp_path: Path) -> None:
    """The validation batch's classical priors (256 px crops) start OpenCV's thread pool in the
    trainer before the data worker is forked; the worker used to deadlock reconfiguring it."""
    import subprocess
    import sys

    path = tmp_path / "workers.toml"
    path.write_text(
        CONFIG.replace("size = 64", "size = 256").replace("threads = 1", "threads = 1\nworkers = 1")
        + "\n[data.augment]\nsegmentation = 1.0\nclassical_prior = 1.0\n"
    )
    cmd = [sys.executable, "-m", "bgmatte", "train", "--config", str(path), "--out",
           str(tmp_path / "run"), "--quiet"]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("bgmatte train with a forked data worker hung")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_unknown_band_is_the_soft_pixels_widened() -> None:
    alpha = torch.zeros(1, 1, 1, 16)
    alpha[..., 8:] = 1.0
    alpha[..., 8] = 0.5  # the one soft pixel of an edge
    band = unknown_band(alpha, radius=2)
    assert band[0, 0, 0].tolist() == [0.0] * 6 + [1.0] * 5 + [0.0] * 5
    assert unknown_band(torch.ones(1, 1, 4, 4)).sum() == 0  # solid: no band


def test_band_loss_weighs_a_missed_strand_by_its_band_not_the_image() -> None:
    true = torch.zeros(1, 1, 64, 64)
    true[..., 32, :] = 0.6  # a soft one-pixel strand across a background
    missed = torch.zeros_like(true)  # the strand dropped
    band = unknown_band(true)
    assert float(band.sum()) == 7 * 64  # the strand's row and 3 rows either side
    # the image-mean L1 would be 0.6 / 64; over the band it is 0.6 / 7 plus the edges' gradient
    assert float(band_alpha_loss(missed, true, band)) > 0.99 * 0.6 / 7
    assert float(band_alpha_loss(true, true, band)) == 0.0


def test_unknown_weight_adds_the_band_term_to_the_total() -> None:
    true = torch.zeros(1, 1, 16, 16)
    true[..., 4:12, 4:12] = 0.5
    pha = torch.zeros_like(true)
    out = (pha, torch.zeros(1, 3, 16, 16), pha[..., ::4, ::4], torch.zeros(1, 3, 4, 4),
           torch.zeros(1, 1, 4, 4), None)  # fmt: skip
    fg = torch.zeros(1, 3, 16, 16)
    plain = matting_losses(out, true, fg)
    weighted = matting_losses(out, true, fg, unknown_weight=2.0)
    assert "alpha_unknown" not in plain
    expected = 2.0 * band_alpha_loss(pha, true, unknown_band(true))
    assert torch.allclose(weighted["alpha_unknown"], expected)
    assert torch.allclose(weighted["total"], plain["total"] + expected)


def test_unknown_weight_is_a_train_key_that_logs_its_term(tmp_path: Path) -> None:
    path = tmp_path / "band.toml"
    path.write_text(CONFIG.replace("steps = 3", "steps = 2\nunknown_weight = 1.0"))
    out = tmp_path / "run"
    train(path, out)
    assert "alpha_unknown" in (out / "report.html").read_text()
