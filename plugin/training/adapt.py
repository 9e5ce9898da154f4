"""Self-supervised adaptation of the photo model to one shot: the paper's video model.

Background Matting (Sengupta et al., CVPR 2020, §3.2) fine-tunes its photo model on a shot's
own unlabeled frames, with the photo model as teacher, a discriminator that judges composites
of the predicted foreground over new backgrounds, and motion cues. Here, per step, random crops
of a frame t and the next frame t+1 of the shot go through the student network, and:

- teacher: the alpha of the bgmatte node with the initial weights and its strongest settings
  (refinement everywhere, the classical prior, the temporal window), computed once per frame,
  as L1 + gradient L1 on the refined and coarse alpha, plus the error-map target of BGMv2;
- composite: ``alpha*F + (1-alpha)*clean_plate`` must rebuild the plate (L1 in network space,
  F the network's own foreground), which ties alpha and foreground to the pixels;
- adversarial (least-squares GAN, Mao et al. 2017): a small patch discriminator learns to tell
  plate crops (real images) from the student's foreground composited over a new background (a
  different crop of the shot's clean plate, sometimes mirrored); the student learns to fool
  it, so halos of old background and missing pieces of subject are penalised;
- temporal: the student's alpha of frame t+1, carried onto frame t along the optical flow
  between the plates (:mod:`bgmatte.plugin.temporal`), must match its alpha of frame t where
  the carried plate agrees.

Hyperparameters come from a TOML config (``configs/adapt.toml``, section ``[adapt]``); the run
logs every loss (generator terms and discriminator) to TensorBoard and to a self-contained HTML
report, with image grids of every stage. The result is an ordinary weights file that the
node's ``weights`` param loads in every host.
"""

from __future__ import annotations

import copy
import json
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bgmatte.errors import BgmatteError, param
from bgmatte.plugin import display, temporal
from bgmatte.plugin.model import encoding
from bgmatte.plugin.model.network import MattingNetwork, load_network, save_weights
from bgmatte.plugin.training.average import update_average
from bgmatte.plugin.training.losses import alpha_loss
from bgmatte.plugin.training.report import write_report
from bgmatte.plugin.training.train import tensorboard_writer

ADAPT_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "steps": 300,
    "batch": 2,  # crop pairs (frame t, frame t+1) per step
    "size": 192,  # crop side, px (clipped to the frame)
    "lr": 5e-5,
    "lr_discriminator": 2e-4,
    "teacher": 1.0,  # loss weights
    "composite": 1.0,
    "adversarial": 0.02,
    "temporal": 0.5,
    "teacher_refine": "full",  # the teacher's refine mode
    "teacher_temporal_radius": 2,  # the teacher's temporal window
    "refine_fraction": 0.12,  # of each crop, refined by the student in training
    "ema": 0.99,  # decay of the weights' moving average that is saved (0: the last weights)
    "threads": 2,
    "log_every": 10,
    "image_every": 100,
}


def load_adapt_config(path: str | Path | None) -> dict[str, Any]:
    """``[adapt]`` of a TOML file over :data:`ADAPT_DEFAULTS` (None: the defaults)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text()).get("adapt", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise BgmatteError(
                param("config"), f"cannot read {path} ({exc})", "pass a TOML config"
            ) from exc
    unknown = set(raw) - set(ADAPT_DEFAULTS)
    if unknown:
        raise BgmatteError(
            param("config"),
            f"unknown adapt keys {sorted(unknown)}",
            f"use {sorted(ADAPT_DEFAULTS)}",
        )
    return {**ADAPT_DEFAULTS, **raw}


@dataclass
class ShotTensors:
    """The shot as the student sees it: per frame N×C×H×W float32 tensors (linear light)."""

    plate: torch.Tensor  # N, 3, H, W
    clean: torch.Tensor  # N, 3, H, W  the clean plate as the node used it (aligned, matched)
    prior: torch.Tensor  # N, 1, H, W  the soft segmentation prior the network engine used
    teacher: torch.Tensor  # N, 1, H, W
    flow: torch.Tensor  # N-1, 2, H, W  frame t → t+1 (x, y), see temporal.flow


def teacher_node(params: Mapping[str, Any], weights: str | Path, cfg: Mapping[str, Any]) -> Any:
    """The node whose mattes teach the student: the network engine with the initial weights,
    refinement ``teacher_refine`` and the temporal window ``teacher_temporal_radius``."""
    from bgmatte.plugin.node import Node

    radius = int(cfg["teacher_temporal_radius"])
    values = {
        **params,
        "engine": "network",
        "weights": str(weights),
        "refine_mode": cfg["teacher_refine"],
        "temporal_radius": radius,
    }
    return Node(values, cache_frames=2 * radius + 2)


def teacher_frame(teacher: Any, fetcher: Any, frame: int) -> tuple[np.ndarray, Any]:
    """The plate as the teacher node solved it (working space) and its Matte for ``frame``."""
    matte = teacher.solve_frame(frame, fetcher)
    return teacher.keyed(frame, fetcher).inputs.plate, matte


def prepare(
    node_render: Callable[[int], tuple[np.ndarray, Any]], frames: Sequence[int]
) -> ShotTensors:
    """Teacher alpha, clean plate as used and prior of every frame, and the flows between
    consecutive frames. ``node_render(frame)`` returns the plate as solved and the teacher
    node's Matte (:func:`teacher_frame`)."""
    plates, cleans, priors, teachers = [], [], [], []
    for f in frames:
        plate, m = node_render(f)
        plates.append(plate)
        cleans.append(m.clean_plate)
        priors.append(m.segmentation)
        teachers.append(m.alpha)
    shapes = {p.shape for p in plates}
    if len(shapes) != 1:
        raise BgmatteError("plate", f"frames differ in size {sorted(shapes)}", "adapt one shot")
    flows = [
        temporal.flow(temporal.encode(plates[i]), temporal.encode(plates[i + 1]))
        for i in range(len(plates) - 1)
    ]

    def stack(arrays: list[np.ndarray]) -> torch.Tensor:
        a = np.stack([x if x.ndim == 3 else x[..., None] for x in arrays]).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    return ShotTensors(
        stack(plates),
        stack(cleans),
        stack(priors),
        stack(teachers),
        stack(flows) if flows else torch.zeros((0, 2, *plates[0].shape[:2])),
    )


class Discriminator(nn.Module):
    """A small patch discriminator (PatchGAN, Isola et al. 2017): (B, 3, H, W) composites in
    network space → (B, 1, H/8, W/8) realness scores."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * width, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _freeze_batchnorm(model: nn.Module) -> None:
    """Fine-tuning with a few crops: keep the photo model's normalisation statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def _crops(
    shot: ShotTensors, rng: np.random.Generator, batch: int, size: int
) -> dict[str, torch.Tensor]:
    """``batch`` pairs of same-place crops of frames t and t+1 (t+1 = t for a single frame),
    and a new background for each: another crop of the clean plate, sometimes mirrored. Not
    re-tinted: the real images the discriminator sees all have this shot's background, so a
    background of another colour would give composites away by colour alone (and teach the
    student to cover the new background with alpha 1)."""
    n, _, h, w = shot.plate.shape
    size = min(size, h, w) // 8 * 8
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("t", "u", "flow", "background")}
    for _ in range(batch):
        t = int(rng.integers(max(1, n - 1)))
        u = min(t + 1, n - 1)
        y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        window = (slice(None), slice(y, y + size), slice(x, x + size))
        out["t"].append(
            torch.cat([shot.plate[t], shot.clean[t], shot.prior[t], shot.teacher[t]])[window]
        )
        out["u"].append(torch.cat([shot.plate[u], shot.clean[u], shot.prior[u]])[window])
        flow = shot.flow[t][window] if u != t else torch.zeros((2, size, size))
        out["flow"].append(flow)
        by, bx = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        bg = shot.clean[int(rng.integers(n)), :, by : by + size, bx : bx + size]
        out["background"].append(torch.flip(bg, dims=[2]) if rng.random() < 0.5 else bg)
    return {k: torch.stack(v) for k, v in out.items()}


def _carry(x: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, S, S) of frame t+1 sampled at p + flow(p): carried onto frame t, and where the
    sample falls inside the crop (B, 1, S, S)."""
    s = x.shape[2]
    ys, xs = torch.meshgrid(
        torch.arange(s, dtype=x.dtype), torch.arange(s, dtype=x.dtype), indexing="ij"
    )
    px, py = xs + flow[:, 0], ys + flow[:, 1]
    inside = ((px >= 0) & (px <= s - 1) & (py >= 0) & (py <= s - 1)).to(x.dtype)[:, None]
    grid = torch.stack([2 * px / (s - 1) - 1, 2 * py / (s - 1) - 1], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", align_corners=True), inside


def adapt_step(
    student: MattingNetwork,
    disc: Discriminator,
    batch: dict[str, torch.Tensor],
    cfg: Mapping[str, Any],
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> tuple[dict[str, float], tuple[torch.Tensor, ...]]:
    """One generator and one discriminator update; returns the losses and the images."""
    t, u = batch["t"], batch["u"]
    b = t.shape[0]
    plate, clean, prior, teacher = t[:, :3], t[:, 3:6], t[:, 6:7], t[:, 7:8]
    src = torch.cat([plate, u[:, :3]])
    bgr = torch.cat([clean, u[:, 3:6]])
    seg = torch.cat([prior, u[:, 6:7]])
    student.set_refine("sampling", int(cfg["refine_fraction"] * src.shape[2] * src.shape[3]))
    pha_all, fgr_all, pha_sm, _, err_sm, _ = student(src, bgr, seg, has_seg=torch.ones(2 * b))
    assert pha_all is not None and fgr_all is not None and pha_sm is not None and err_sm is not None
    pha, pha_next = pha_all[:b], pha_all[b:]
    fg = encoding.decode(fgr_all[:b])  # linear light

    size = pha_sm.shape[2:]
    teacher_sm = F.interpolate(teacher, size, mode="area")
    l_teacher = (
        alpha_loss(pha, teacher)
        + alpha_loss(pha_sm[:b], teacher_sm)
        + F.mse_loss(err_sm[:b], torch.abs(pha_sm[:b].detach() - teacher_sm))
    )
    rebuilt = pha * fg + (1 - pha) * clean
    l_composite = F.l1_loss(encoding.encode(rebuilt), encoding.encode(plate))
    fake = encoding.encode(pha * fg + (1 - pha) * batch["background"])
    l_adv = torch.mean((disc(fake) - 1.0) ** 2)
    carried, inside = _carry(torch.cat([pha_next, u[:, :3]], 1), batch["flow"])
    miss = torch.abs(encoding.encode(carried[:, 1:]) - encoding.encode(plate)).mean(1, keepdim=True)
    agree = inside * torch.exp(-((miss / temporal.SIGMA) ** 2))
    l_temporal = (torch.abs(pha - carried[:, :1]) * agree).sum() / (agree.sum() + 1.0)
    total = (
        cfg["teacher"] * l_teacher
        + cfg["composite"] * l_composite
        + cfg["adversarial"] * l_adv
        + cfg["temporal"] * l_temporal
    )
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
    opt_g.step()

    real = encoding.encode(plate)
    l_d = 0.5 * (torch.mean((disc(real) - 1.0) ** 2) + torch.mean(disc(fake.detach()) ** 2))
    opt_d.zero_grad(set_to_none=True)
    l_d.backward()
    opt_d.step()
    losses = {
        "teacher": float(l_teacher.detach()),
        "composite": float(l_composite.detach()),
        "adversarial_g": float(l_adv.detach()),
        "temporal": float(l_temporal.detach()),
        "total_g": float(total.detach()),
        "discriminator": float(l_d.detach()),
    }
    images = (
        plate,
        clean,
        prior,
        teacher,
        pha.detach(),
        fg.detach(),
        fake.detach(),
        batch["background"],
    )
    return losses, images


def _grid(images: tuple[torch.Tensor, ...], rows: int = 2) -> np.ndarray:
    plate, clean, prior, teacher, pha, fg, fake, _ = images
    out = []
    for i in range(min(rows, plate.shape[0])):
        out.append(
            [
                display.tile(plate[i].permute(1, 2, 0).numpy()),
                display.tile(clean[i].permute(1, 2, 0).numpy()),
                display.tile(prior[i, 0].numpy()),
                display.tile(teacher[i, 0].numpy()),
                display.tile(pha[i, 0].numpy()),
                display.tile((fg[i] * (pha[i] > 0)).permute(1, 2, 0).numpy()),
                display.tile(encoding.decode(fake[i]).permute(1, 2, 0).numpy()),
            ]
        )
    return display.grid(out)


GRID_COLUMNS = (
    "plate, clean plate (as used), segmentation prior, teacher alpha, student alpha, "
    "student foreground, composite over a new background (what the discriminator judges)"
)


def adapt(
    shot: ShotTensors,
    weights: str | Path,
    out: str | Path,
    cfg: Mapping[str, Any],
    log_dir: str | Path,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``weights`` on ``shot``; writes ``out`` (safetensors) and the logs in
    ``log_dir`` (TensorBoard events, stage grids, report.html). Returns a summary."""
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(int(cfg["seed"]))
    rng = np.random.default_rng(int(cfg["seed"]))
    log = Path(log_dir)
    (log / "images").mkdir(parents=True, exist_ok=True)
    student = load_network(weights)
    if not student.config.segmentation:
        raise BgmatteError(
            param("weights"),
            f"{weights} takes no segmentation prior",
            "adapt a bgmatte photo model",
        )
    # Train at the base scale the node will use on this shot's frames ('auto').
    from bgmatte.plugin.engines.network import base_scale

    student.backbone_scale = base_scale("auto", shot.plate.shape[3], shot.plate.shape[2])
    initial = copy.deepcopy(student.state_dict())
    decay = float(cfg["ema"])
    average = copy.deepcopy(student) if decay > 0 else None
    disc = Discriminator()
    opt_g = torch.optim.Adam(student.parameters(), lr=float(cfg["lr"]), betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(
        disc.parameters(), lr=float(cfg["lr_discriminator"]), betas=(0.5, 0.999)
    )
    writer = tensorboard_writer(log)
    curves: dict[str, list[tuple[int, float]]] = {}
    began = time.time()
    grids: list[tuple[str, Path]] = []
    steps = int(cfg["steps"])
    for step in range(1, steps + 1):
        student.train()
        _freeze_batchnorm(student)
        batch = _crops(shot, rng, int(cfg["batch"]), int(cfg["size"]))
        losses, images = adapt_step(student, disc, batch, cfg, opt_g, opt_d)
        if average is not None:
            update_average(average, student, decay)
        if step % int(cfg["log_every"]) == 0 or step == steps:
            for k, v in losses.items():
                curves.setdefault(k, []).append((step, v))
                if writer is not None:
                    writer.add_scalar(f"adapt/{k}", v, step)
            if progress:
                progress(step, losses)
        if step % int(cfg["image_every"]) == 0 or step == steps:
            path = log / "images" / f"adapt_{step:06d}.png"
            img = _grid(images)
            display.write_png(path, img)
            grids.append((f"step {step}: {GRID_COLUMNS}", path))
            if writer is not None:
                writer.add_image("adapt/stages", img, step, dataformats="HWC")
    wall = time.time() - began
    if average is not None:
        student = average
    changed = max(
        float((student.state_dict()[k].float() - v.float()).abs().max()) for k, v in initial.items()
    )
    meta = {
        "adapted_from": str(weights),
        "adapt_config": json.dumps(dict(cfg)),
        "steps": str(steps),
        "wall_seconds": f"{wall:.0f}",
        "frames": str(shot.plate.shape[0]),
    }
    tmp = Path(out).with_name(f".{Path(out).name}.tmp")  # atomic: never a half-written file
    save_weights(student.eval(), tmp, meta)
    tmp.replace(out)
    summary = {"steps": steps, "wall_seconds": round(wall, 1), "weights": str(out),
               "max_weight_change": changed, "frames": int(shot.plate.shape[0])}  # fmt: skip
    plots = {
        "generator losses": {k: v for k, v in curves.items() if k != "discriminator"},
        "discriminator loss": {"discriminator": curves.get("discriminator", [])},
    }
    write_report(log / "report.html", "bgmatte adapt", dict(cfg), plots, grids[-4:], summary)
    if writer is not None:
        writer.close()
    return summary
