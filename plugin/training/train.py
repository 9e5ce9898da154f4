"""``bgmatte train``: the photo model's supervised training on composites (Sengupta et al.
2020 §3; BGMv2 §3.3), resumable, deterministic, logged at every stage.

Each step draws a batch of linear-light composites from
:class:`bgmatte.plugin.training.data.CompositeSampler` (deterministic per step, so a resumed
run sees the same data), runs the base network and the refiner (sampling mode, as BGMv2
trains it) and applies :func:`bgmatte.plugin.training.losses.matting_losses`.

Logged: loss curves and image grids of every stage (plate, clean plate, difference,
segmentation, coarse alpha, error map, refined patches, refined alpha, ground truth,
foreground, composite over a new background) to TensorBoard event files when TensorBoard is
installed, to PNG files, and to a self-contained ``report.html``; optionally to Weights &
Biases in offline mode. Checkpoints are written atomically every ``checkpoint_every`` steps;
the final weights go to ``model.safetensors`` with the config and run facts as metadata.

``processes`` > 1 trains data-parallel (PyTorch DDP, :mod:`.distributed`): each process draws
its slice of every batch, batch norms take the whole batch's statistics
(:mod:`.sync_layers`) and the losses the whole batch's counts, so one step computes what
one process computes on the whole batch (to float rounding). Rank 0 alone validates, logs and
writes the run folder.
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bgmatte.errors import BgmatteError, param
from bgmatte.plugin import display
from bgmatte.plugin.model import encoding
from bgmatte.plugin.model.network import MattingNetwork, NetworkConfig, save_weights
from bgmatte.plugin.model.precision import cpu_precision
from bgmatte.plugin.model.refiner import detail_hint
from bgmatte.plugin.training.average import update_average
from bgmatte.plugin.training.distributed import Shards, launch
from bgmatte.plugin.training.losses import matting_losses
from bgmatte.plugin.training.report import write_report

TRAIN_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "steps": 2000,
    "batch": 8,
    "size": 256,
    "lr": 1e-3,
    "warmup": 100,
    "weight_decay": 1e-5,
    "ema": 0.0,  # > 0: the saved and validated weights are a moving average (this decay)
    "backbone_scale": 0.25,  # the base's scale (and the validation's, with backbone_scales)
    "backbone_scales": [],  # if given, step k trains at backbone_scales[k % len]
    "refine_sample_pixels": 4000,
    # Also refine where the true alpha has detail the base's grid cannot hold
    # (:func:`detail_hint`): the refiner then trains on strands and wires, which the error
    # map alone rarely sends it to. 0 = off.
    "refine_detail": 0.0,
    # > 0: the alpha loss again over the unknown band only, this much of it
    # (:func:`bgmatte.plugin.training.losses.band_alpha_loss`). 0 = off.
    "unknown_weight": 0.0,
    # "refiner": train the refiner alone; the base network (encoder, ASPP, decoder) stays as
    # loaded, its batch norms and dropout in inference mode. "" = the whole network.
    "train_only": "",
    # "frozen": every batch norm keeps the statistics it was loaded with (its scale and shift
    # still learn), so a fine-tuning stage's small batches of hard cases do not re-centre the
    # base for real frames. "train" = statistics from each batch, as in pre-training.
    "batch_norm": "train",
    "log_every": 25,
    "image_every": 250,
    "checkpoint_every": 250,
    "val_batch": 16,
    "threads": 2,
    "workers": 0,
    "device": "auto",
    # bfloat16 autocast: 'auto' uses it on a GPU and on a CPU only where a measured conv stack
    # runs faster in it (bf16 matrix units, AMX: ~3x per step; AVX2 emulates it 5-30x slower,
    # :mod:`bgmatte.plugin.model.precision`); 'fp32' or 'bf16' force one.
    "precision": "auto",
}


def load_config(path: str | Path) -> dict[str, Any]:
    """The TOML config with defaults filled in: sections ``model``, ``train``, ``data``."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BgmatteError(
            param("config"), f"cannot read {path} ({exc})", "pass a TOML config"
        ) from exc
    unknown = set(raw.get("train", {})) - set(TRAIN_DEFAULTS)
    if unknown:
        raise BgmatteError(
            param("config"),
            f"unknown train keys {sorted(unknown)}",
            f"use {sorted(TRAIN_DEFAULTS)}",
        )
    model = dict(raw.get("model", {}))
    if "decoder_channels" in model:
        model["decoder_channels"] = tuple(model["decoder_channels"])
    return {
        "model": model,
        "train": {**TRAIN_DEFAULTS, **raw.get("train", {})},
        "data": dict(raw.get("data", {})),
    }


def _worker_init(_: int) -> None:
    """One thread per data worker: with many workers, per-process thread pools oversubscribe
    the CPU and starve the training step (see the model card, stage 1)."""
    torch.set_num_threads(1)
    import cv2  # the classical prior (data augment ``classical_prior``) blurs with OpenCV

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


class BatchSet(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Map-style dataset: item ``step`` is the whole batch of that step (deterministic), or
    with ``part=(rank, parts)`` that rank's slice of it (see ``CompositeSampler.sample``)."""

    def __init__(
        self,
        sampler: Any,
        batch: int,
        size: int,
        steps: int,
        part: tuple[int, int] | None = None,
    ) -> None:
        self.sampler, self.batch, self.size, self.steps = sampler, batch, size, steps
        self.part = part

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        if self.part is None:
            got = self.sampler.sample(step, self.batch, self.size)
        else:
            got = self.sampler.sample(step, self.batch, self.size, part=self.part)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in got.items()}


def _sampler(cfg: dict[str, Any], seed: int) -> Any:
    from bgmatte.plugin.training.data import CompositeSampler

    bundle = cfg["data"].get("bundle")
    if bundle and not Path(bundle).is_file():  # built once from the shared data
        from bgmatte.plugin.training.bundle import build_bundle

        build_bundle(cfg["data"].get("shared", "../shared/data"), bundle)
    return CompositeSampler(bundle, cfg["data"].get("augment"), seed=seed)


def _lr(step: int, cfg: dict[str, Any]) -> float:
    t = cfg["train"]
    if step < t["warmup"]:
        return float(t["lr"]) * (step + 1) / t["warmup"]
    progress = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return float(t["lr"]) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _forward(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], hint: torch.Tensor | None = None
) -> tuple[Any, ...]:
    return model(
        batch["plate"],
        batch["clean_plate"],
        batch["segmentation"],
        has_seg=batch["has_segmentation"],
        refine_hint=hint,
    )


def stage_grid(
    batch: dict[str, torch.Tensor], out: tuple[Any, ...], n: int = 4, tile: int = 192
) -> np.ndarray:
    """Rows of samples, columns of stages, as display uint8."""
    pha, fgr, pha_sm, _, err_sm, ref_sm = (
        torch.zeros(0) if t is None else t.detach().float() for t in out
    )
    size = batch["alpha"].shape[2:]

    def up(t: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        return F.interpolate(t, size, mode=mode)

    fg_lin = encoding.decode(fgr) if fgr.numel() else batch["plate"]
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    checker = (((yy // 16 + xx // 16) % 2) * 0.3 + 0.15).astype(np.float32)
    new_bg = torch.from_numpy(np.stack([checker * 0.6, checker, checker * 0.7]))
    rows = []
    for i in range(min(n, batch["plate"].shape[0])):
        a = pha[i, 0]
        comp = a * fg_lin[i] + (1 - a) * new_bg
        cells = [
            batch["plate"][i].permute(1, 2, 0),
            batch["clean_plate"][i].permute(1, 2, 0),
            (batch["plate"][i] - batch["clean_plate"][i]).abs().permute(1, 2, 0) * 4,
            batch["segmentation"][i, 0] * batch["has_segmentation"][i],
            up(pha_sm)[i, 0],
            up(err_sm)[i, 0],
            up(ref_sm, "nearest")[i, 0],
            a,
            batch["alpha"][i, 0],
            (fg_lin[i] * (batch["alpha"][i] > 0)).permute(1, 2, 0),
            comp.permute(1, 2, 0),
        ]
        rows.append([display.tile(_thumb(c, tile)) for c in cells])
    return display.grid(rows)


def _thumb(img: torch.Tensor, tile: int) -> np.ndarray:
    """H×W or H×W×C → at most ``tile`` pixels high (area average), as numpy."""
    x = img[None, None] if img.ndim == 2 else img.permute(2, 0, 1)[None]
    if x.shape[2] > tile:
        x = F.interpolate(x, size=(tile, tile * x.shape[3] // x.shape[2]), mode="area")
    out = x[0, 0] if img.ndim == 2 else x[0].permute(1, 2, 0)
    return out.numpy()


STAGES = (
    "plate, clean plate, |difference|×4, segmentation, coarse alpha, error map, "
    "refined patches, refined alpha, true alpha, foreground, composite"
)


def _metrics(out: tuple[Any, ...], batch: dict[str, torch.Tensor]) -> dict[str, float]:
    pha, alpha = out[0].float(), batch["alpha"]
    return {
        "sad_per_megapixel": float((pha - alpha).abs().sum() / alpha.numel() * 1e6 / 1000),
        "mse_x1e3": float(((pha - alpha) ** 2).mean() * 1000),
    }


def train(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    steps: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    minutes: float | None = None,
    init: str | Path | None = None,
    wandb: bool = False,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    processes: int = 1,
) -> Path:
    """Run (or resume) training; returns the path of the final ``model.safetensors``.

    ``minutes``: fit the run into a time budget: the step count (and so the learning-rate
    schedule) is set from the speed measured over steps 100-150, and the run stops at the
    deadline regardless. The steps actually run are recorded in the weights' metadata;
    ``steps`` reproduces them. ``init``: start from these weights with a fresh optimizer.
    ``processes`` > 1: data-parallel over that many processes (gloo on the CPU, each with
    ``threads // processes`` threads; NCCL on CUDA, one GPU each); the batch must split
    evenly over them. One process touches no torch.distributed.
    """
    options: dict[str, Any] = {
        "config_path": config_path,
        "out_dir": out_dir,
        "resume": resume,
        "steps": steps,
        "device": device,
        "workers": workers,
        "minutes": minutes,
        "init": init,
        "wandb": wandb,
    }
    if processes == 1:
        return _train(**options, progress=progress)
    backend = _check_processes(load_config(config_path), processes, device)
    return launch(processes, backend, _train, options, {"progress": progress})


def _check_processes(cfg: dict[str, Any], processes: int, device: str | None) -> str:
    """The torch.distributed backend for ``processes`` > 1, or the error that says why the
    run cannot split so."""
    batch = int(cfg["train"]["batch"])
    if processes < 1:
        raise BgmatteError(param("processes"), f"{processes} processes", "use 1 or more processes")
    if batch % processes:
        raise BgmatteError(
            param("processes"),
            f"a batch of {batch} does not split evenly over {processes} processes",
            f"make the batch (train.batch in the config) a multiple of {processes}, or "
            "use a number of processes that divides it",
        )
    dev = device or cfg["train"]["device"]
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cpu":
        return "gloo"
    if dev != "cuda":
        raise BgmatteError(
            param("device"),
            f"{dev} is one device; {processes} processes use one GPU each",
            f"pass cuda (rank r trains on cuda:r) or cpu with {processes} processes",
        )
    if torch.cuda.device_count() < processes:
        raise BgmatteError(
            param("processes"),
            f"{processes} processes need {processes} GPUs, this machine has "
            f"{torch.cuda.device_count()}",
            f"use at most {torch.cuda.device_count()} processes",
        )
    return "nccl"


def _train(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    resume: bool,
    steps: int | None,
    device: str | None,
    workers: int | None,
    minutes: float | None,
    init: str | Path | None,
    wandb: bool,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    shards: Shards | None = None,
) -> Path:
    """:func:`train` in one process, or as rank ``shards.rank`` of a data-parallel run."""
    cfg, dev, out = _prepare(
        config_path, out_dir, steps=steps, device=device, workers=workers, shards=shards
    )
    t = cfg["train"]
    lead = shards is None or shards.rank == 0  # validates, logs and writes the run folder
    model, opt = _build(cfg, dev)
    if shards is not None:
        _synchronise(model)
    run = _restore(model, opt, cfg, dev, out / "checkpoint.pt", init=init, resume=resume)
    for part in _frozen(model, t["train_only"]):
        part.requires_grad_(False)  # AdamW then skips them: no gradient, no weight decay
    _frozen_norms(model, t["batch_norm"])  # an unknown setting is named before the first step
    if shards is not None:
        run.net = _data_parallel(model, dev)
    dtype = torch.get_default_dtype()  # the model's: float32, or float64 to check the maths
    loader, val = _data(cfg, dev, run.start, shards, dtype)
    sinks = _Sinks(None, None, None)
    if lead:
        sinks = _Sinks(tensorboard_writer(out), _wandb(out, cfg) if wandb else None, progress)
    # the choice made, not "auto": the report and the weights' metadata say what ran
    t["precision"] = training_precision(dev, t["precision"], dtype)
    kind = "cuda" if dev.startswith("cuda") else "cpu"
    autocast = torch.autocast(kind, dtype=torch.bfloat16, enabled=t["precision"] == "bf16")
    began = time.time() - run.wall
    budget = _TimeBudget(minutes, run.start)
    processes = 1 if shards is None else shards.world
    for step, batch in enumerate(loader, start=run.start):
        planned, expired = budget.steps(step, t["steps"]), budget.expired()
        if shards is not None:  # rank 0's clock decides, so that every rank stops together
            planned, expired = shards.agree(planned, expired)
        t["steps"] = planned
        if step >= t["steps"] or expired:
            t["steps"] = step
            break
        batch = {k: v.to(dev, dtype, non_blocking=True) for k, v in batch.items()}
        terms = _train_step(run, cfg, batch, step, autocast, shards)
        done = step + 1
        if not lead:
            continue
        assert val is not None
        _validate_and_log(run, cfg, out, val, terms, step, autocast, sinks)
        if done % t["checkpoint_every"] == 0 and done < t["steps"]:  # the last one: _finish
            _checkpoint(run.ckpt, model, opt, done, run.curves, time.time() - began, run.average)
            _report(out, cfg, run.curves, time.time() - began, done, dev, processes)
    if not lead:
        return out / "model.safetensors"
    return _finish(run, cfg, out, dev, time.time() - began, init, sinks, processes)


def training_precision(dev: str, setting: str, dtype: torch.dtype) -> str:
    """'bf16' (autocast) or 'fp32' for the training step and validation (see ``precision`` in
    ``TRAIN_DEFAULTS``). Never bf16 for a float64 model: that checks the maths to the bit."""
    if setting not in ("auto", "fp32", "bf16"):
        raise BgmatteError(
            param("config"), f"train precision {setting!r} is unknown", "use auto, fp32 or bf16"
        )
    if dtype != torch.float32 or setting == "fp32":
        return "fp32"
    if dev.startswith("cuda") or setting == "bf16":
        return "bf16"
    return cpu_precision("auto")


def _synchronise(model: MattingNetwork) -> None:
    """Ready ``model`` for data-parallel training: batch norms and dropout over the whole
    batch, and a refiner that runs its convolutions (and so reaches their collectives) even
    on no patches."""
    from bgmatte.plugin.training import sync_layers

    sync_layers.convert(model)
    model.refiner.run_empty = True


def _data_parallel(model: MattingNetwork, dev: str) -> torch.nn.Module:
    """``model`` under DistributedDataParallel (which averages the gradients over ranks)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(dev).index] if dev.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def _prepare(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    steps: int | None,
    device: str | None,
    workers: int | None,
    shards: Shards | None = None,
) -> tuple[dict[str, Any], str, Path]:
    """The config with the call's overrides, the device, the run folder; seeds torch.

    Returns ``(cfg, device, out)``. ``cfg["train"]["steps"]`` stays the live step count: a
    time budget or an early stop lowers it, and the schedule, the logs and the saved
    metadata all read it there. With ``shards``, the rank's own GPU and its share of the
    threads; only rank 0 makes the run folder.
    """
    cfg = load_config(config_path)
    t = cfg["train"]
    if steps is not None:
        t["steps"] = steps
    if workers is not None:
        t["workers"] = workers
    dev = device or t["device"]
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if shards is not None and dev.startswith("cuda"):
        dev = shards.device
    if dev == "cpu":
        world = 1 if shards is None else shards.world
        torch.set_num_threads(max(1, int(t["threads"]) // world))
    out = Path(out_dir)
    if shards is None or shards.rank == 0:
        (out / "images").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(t["seed"])
    return cfg, dev, out


def _build(cfg: dict[str, Any], dev: str) -> tuple[MattingNetwork, torch.optim.Optimizer]:
    """A freshly initialised network (from the seeded torch RNG) and its AdamW optimizer."""
    t = cfg["train"]
    config = NetworkConfig(**cfg["model"])
    model = MattingNetwork(
        config,
        backbone_scale=t["backbone_scale"],
        refine_mode="sampling",
        refine_sample_pixels=t["refine_sample_pixels"],
    ).to(dev)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    return model, opt


@dataclass
class _Run:
    """The state a training run carries from step to step, and saves in its checkpoint."""

    model: MattingNetwork
    opt: torch.optim.Optimizer
    ckpt: Path
    average: MattingNetwork | None = None  # the weights' moving average, when ``ema`` > 0
    net: torch.nn.Module | None = None  # what a training step calls, if not ``model`` (DDP)
    start: int = 0  # the first step to run: a resumed run's checkpointed step
    wall: float = 0.0  # seconds spent on this run before this session
    curves: dict[str, dict[str, list[tuple[int, float]]]] = field(
        default_factory=lambda: {"train": {}, "val": {}}
    )

    @property
    def shipped(self) -> MattingNetwork:
        """What is validated and saved: the average if there is one, else the model."""
        return self.average if self.average is not None else self.model


def _restore(
    model: MattingNetwork,
    opt: torch.optim.Optimizer,
    cfg: dict[str, Any],
    dev: str,
    ckpt: Path,
    *,
    init: str | Path | None,
    resume: bool,
) -> _Run:
    """The run's starting state: ``init``'s weights (a warm start keeps the fresh optimizer
    and schedule), then, with ``resume``, the checkpoint's model, optimizer, step, curves and
    wall time; and the moving average when ``ema`` > 0 (the checkpoint's, if it has one)."""
    run = _Run(model, opt, ckpt)
    if init is not None:
        from safetensors.torch import load_file

        from bgmatte.plugin.model.network import warm_start

        warm_start(model, load_file(str(init), device=str(dev)))
    state: dict[str, Any] = {}
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        run.start, run.curves, run.wall = state["step"], state["curves"], state["wall_seconds"]
    if float(cfg["train"]["ema"]) > 0:
        run.average = copy.deepcopy(model).eval().requires_grad_(False)
        if "average" in state:
            run.average.load_state_dict(state["average"])
    return run


def _data(
    cfg: dict[str, Any],
    dev: str,
    start: int,
    shards: Shards | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.utils.data.DataLoader[dict[str, torch.Tensor]], dict[str, torch.Tensor] | None]:
    """The training batches from step ``start`` on (with ``shards``, this rank's slices), and
    the fixed validation batch on ``dev`` (drawn from its own sampler, seeded apart from the
    training one; None on ranks other than 0, which do not validate)."""
    t = cfg["train"]
    sampler = _sampler(cfg, t["seed"])
    if int(t["workers"]) > 0:
        # Data workers are forked. Once OpenCV's thread pool runs in this process (the
        # validation batch's classical priors start it on large crops), a forked worker that
        # reconfigures it deadlocks in _worker_init; a single-threaded OpenCV starts no pool.
        import cv2

        cv2.setNumThreads(1)
    val = None
    if shards is None or shards.rank == 0:
        drawn = BatchSet(_sampler(cfg, t["seed"] + 10_000), t["val_batch"], t["size"], 1)[0]
        val = {k: v.to(dev, dtype) for k, v in drawn.items()}
    part = None if shards is None else (shards.rank, shards.world)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(
            BatchSet(sampler, t["batch"], t["size"], t["steps"], part), range(start, t["steps"])
        ),
        batch_size=None,
        shuffle=False,
        num_workers=int(t["workers"]),
        prefetch_factor=4 if t["workers"] else None,
        persistent_workers=False,
        worker_init_fn=_worker_init,
    )
    return loader, val


class _TimeBudget:
    """``train(minutes=...)``: once the prefetched batches are used up, estimate the step
    count that fits (so the learning-rate schedule still ends at zero), and stop hard at the
    deadline. Without ``minutes`` it changes nothing."""

    def __init__(self, minutes: float | None, start: int) -> None:
        self.start = start
        self.deadline = None if minutes is None else time.time() + minutes * 60
        self.timing_from: float | None = None

    def steps(self, step: int, steps: int) -> int:
        """The step count to run to, told before each ``step`` is run."""
        if self.deadline is not None and step == self.start + 100:
            self.timing_from = time.time()
        if self.deadline is not None and self.timing_from is not None and step == self.start + 150:
            per_step = (time.time() - self.timing_from) / 50
            return min(steps, step + max(1, int((self.deadline - time.time()) / per_step)))
        return steps

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.deadline is not None and time.time() > self.deadline


def _train_step(
    run: _Run,
    cfg: dict[str, Any],
    batch: dict[str, torch.Tensor],
    step: int,
    autocast: torch.autocast,
    shards: Shards | None = None,
) -> dict[str, torch.Tensor]:
    """One optimizer step on ``batch`` (learning rate, base scale and refiner hint of this
    step), then the moving average; returns the loss terms (with ``shards``, the whole
    batch's, averaged over the ranks)."""
    t = cfg["train"]
    model, opt = run.model, run.opt
    for group in opt.param_groups:
        group["lr"] = _lr(step, cfg)
    model.train()
    for part in _frozen(model, t["train_only"]):
        part.eval()  # batch norm statistics and dropout as at inference
    for norm in _frozen_norms(model, t["batch_norm"]):
        norm.eval()  # its loaded statistics normalise, and are not updated
    if t["backbone_scales"]:  # the base scales inference uses (auto: 1/2 up to 1K)
        model.backbone_scale = float(t["backbone_scales"][step % len(t["backbone_scales"])])
    hint = None
    if t["refine_detail"] > 0:
        hint = float(t["refine_detail"]) * detail_hint(batch["alpha"], model.backbone_scale)
    with autocast:
        output = _forward(model if run.net is None else run.net, batch, hint)
        enc_fg = encoding.encode(batch["foreground"])
        terms = matting_losses(
            tuple(None if o is None else o.to(_loss_dtype(o)) for o in output),
            batch["alpha"],
            enc_fg,
            float(t["unknown_weight"]),
            shards,
        )
    model.backbone_scale = float(t["backbone_scale"])  # validation and the saved model
    opt.zero_grad(set_to_none=True)
    if terms["total"].requires_grad:  # a frozen base and no patch refined: nothing to learn
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    if run.average is not None:
        update_average(run.average, run.model, float(t["ema"]))
    return terms if shards is None else shards.mean(terms)


def _frozen(model: MattingNetwork, train_only: str) -> list[torch.nn.Module]:
    """The parts of ``model`` that ``train_only`` keeps as loaded (see ``TRAIN_DEFAULTS``)."""
    if train_only == "":
        return []
    if train_only == "refiner":
        return [model.backbone, model.aspp, model.decoder]
    raise BgmatteError(
        param("config"), f"train_only {train_only!r} is unknown", 'use "" or "refiner"'
    )


def _frozen_norms(model: torch.nn.Module, batch_norm: str) -> list[torch.nn.Module]:
    """The batch norms whose statistics ``batch_norm`` keeps as loaded (see
    ``TRAIN_DEFAULTS``)."""
    if batch_norm == "train":
        return []
    if batch_norm == "frozen":
        return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    raise BgmatteError(
        param("config"), f"batch_norm {batch_norm!r} is unknown", 'use "train" or "frozen"'
    )


def _loss_dtype(t: torch.Tensor) -> torch.dtype:
    """Losses in float32 at least: autocast's bfloat16 outputs are widened, float64 kept."""
    return torch.promote_types(t.dtype, torch.float32)


@dataclass
class _Sinks:
    """Where the logs go besides the run's curves: TensorBoard, Weights & Biases, and the
    caller's ``progress`` callback; each may be absent."""

    writer: Any
    wandb: Any
    progress: Callable[[int, dict[str, float]], None] | None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()


def _validate_and_log(
    run: _Run,
    cfg: dict[str, Any],
    out: Path,
    val: dict[str, torch.Tensor],
    terms: dict[str, torch.Tensor],
    step: int,
    autocast: torch.autocast,
    sinks: _Sinks,
) -> None:
    """After ``step``: when a log or an image is due, one validation pass of the shipped
    weights serves both; log the loss terms, the validation metrics and the learning rate,
    and write the stage grid of the validation batch."""
    t = cfg["train"]
    done = step + 1
    log_now = done % t["log_every"] == 0 or done == t["steps"]
    image_now = done % t["image_every"] == 0 or done == t["steps"]
    if not (log_now or image_now):
        return
    run.shipped.eval()
    with torch.no_grad(), autocast:
        vout = _forward(run.shipped, val)
    if log_now:
        scalars = {k: float(v.detach()) for k, v in terms.items()}
        scalars.update({f"val_{k}": v for k, v in _metrics(vout, val).items()})
        scalars["lr"] = _lr(step, cfg)
        for k, v in scalars.items():
            run.curves["val" if k.startswith("val_") else "train"].setdefault(k, []).append(
                (done, v)
            )
            if sinks.writer is not None:
                sinks.writer.add_scalar(("val/" if k.startswith("val_") else "loss/") + k, v, done)
        if sinks.wandb is not None:
            sinks.wandb.log(scalars, step=done)
        if sinks.progress:
            sinks.progress(done, scalars)
    if image_now:
        img = stage_grid(
            {k: v.float().cpu() for k, v in val.items()},
            tuple(None if o is None else o.float().cpu() for o in vout),
        )
        display.write_png(out / "images" / f"stages_{done:06d}.png", img)
        if sinks.writer is not None:
            sinks.writer.add_image("stages", img, done, dataformats="HWC")


def _finish(
    run: _Run,
    cfg: dict[str, Any],
    out: Path,
    dev: str,
    wall: float,
    init: str | Path | None,
    sinks: _Sinks,
    processes: int = 1,
) -> Path:
    """The last checkpoint, the shipped weights with the config and run facts as metadata,
    and the report; closes the logs. Returns the weights' path."""
    steps = cfg["train"]["steps"]
    _checkpoint(run.ckpt, run.model, run.opt, steps, run.curves, wall, run.average)
    meta = {
        "steps": str(steps),
        "wall_seconds": f"{wall:.0f}",
        "device": _device_name(dev),
        "train_config": json.dumps(cfg, default=list),
        "init": str(init) if init is not None else "",
        "processes": str(processes),
    }
    weights = out / "model.safetensors"
    save_weights(run.shipped.cpu(), weights, meta)
    _report(out, cfg, run.curves, wall, steps, dev, processes)
    sinks.close()
    return weights


def _device_name(dev: str) -> str:
    if dev.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _checkpoint(
    path: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    step: int,
    curves: dict[str, Any],
    wall: float,
    average: torch.nn.Module | None = None,
) -> None:
    tmp = path.with_suffix(".tmp")
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "curves": curves,
        "wall_seconds": wall,
    }
    if average is not None:
        state["average"] = average.state_dict()
    torch.save(state, tmp)
    tmp.replace(path)


def _report(
    out: Path,
    cfg: dict[str, Any],
    curves: dict[str, Any],
    wall: float,
    step: int,
    dev: str,
    processes: int = 1,
) -> None:
    train_c = curves["train"]
    plots = {
        "losses": {k: v for k, v in train_c.items() if k not in ("lr",)},
        "validation": curves["val"],
    }
    images = sorted((out / "images").glob("stages_*.png"))
    shown = [(f"{STAGES} — step {int(p.stem.split('_')[1])}", p) for p in images[-2:]]
    summary = {
        "step": step,
        "wall_seconds": round(wall),
        "device": _device_name(dev),
        "processes": processes,
        "precision": cfg["train"]["precision"],
        "steps_per_second": round(step / max(wall, 1e-9), 3),
    }
    write_report(out / "report.html", f"bgmatte training: {out.name}", cfg, plots, shown, summary)


def tensorboard_writer(out: Path) -> Any:
    """A TensorBoard writer into ``out/tensorboard``, or None when TensorBoard is absent."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # TensorBoard is optional; the HTML report always exists
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _wandb(out: Path, cfg: dict[str, Any]) -> Any:
    try:
        import wandb
    except ImportError as exc:
        raise BgmatteError(param("wandb"), "wandb is not installed", "pip install wandb") from exc
    return wandb.init(project="bgmatte", dir=str(out), config=cfg, mode="offline")
