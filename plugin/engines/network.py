"""The network engine: the trained matting network (:mod:`bgmatte.plugin.model`) on a frame.

Without a segmentation input, the soft segmentation prior the network takes (as the paper's
model takes a precomputed soft segmentation) is derived from the classical difference matte
(param ``prior``; 'none' skips it for speed); where that matte is sure of background, the
network's alpha is set to 0, and deep inside its solid part, where the network says mostly
subject, to 1 (param ``fill_holes``). The clean plate is matched to the plate's exposure and
white balance (as the classical engine does), so the unmix downstream uses the same clean plate
the network saw. The frame is padded (edge replicate, identical in plate and clean plate, so
the padding reads as background) to the multiple the base resolution needs, run through base
network and refiner in float32 channels-last, and cropped back. The network's foreground is not
used: the foreground comes from the linear unmix (:mod:`bgmatte.plugin.solve`), so HDR values
are exact.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from bgmatte import kernels
from bgmatte.errors import BgmatteError, param
from bgmatte.plugin import uploads
from bgmatte.plugin.engines import Deferred, EngineResult, classical, classical_torch
from bgmatte.plugin.exposure import matched_clean_plate
from bgmatte.plugin.model import refiner
from bgmatte.plugin.model.fold import fold_batch_norms
from bgmatte.plugin.model.network import MattingNetwork, load_network
from bgmatte.plugin.model.precision import cpu_precision
from bgmatte.plugin.pixels import snap
from bgmatte.plugin.timing import stage

SURE_BACKGROUND = 0.1  # classical error below which its zero alpha is trusted
# px (on a 640 px long side, scaled with the frame) inside the classical matte's solid part
# beyond which it is sure of subject: chosen on the dev and validation cases (README)
SURE_SUBJECT = 5
MIN_SURE_SUBJECT = 3  # px at least: in a small frame strands merge into broad soft areas
SURE_SUBJECT_ALPHA = 0.5  # ... where the network says at least this (mostly subject)
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "photo.safetensors"
_models: dict[tuple[str, int, str, str], tuple[MattingNetwork, threading.Lock]] = {}
_models_lock = threading.Lock()


def weights_path(name: str) -> Path:
    """The weights file a ``weights`` param names ('' = the shipped photo model)."""
    if not name:
        if not SHIPPED.is_file():
            raise BgmatteError(
                param("weights"),
                f"the shipped model {SHIPPED} is missing",
                f"reinstall bgmatte, set {param('weights')}, or set {param('engine')} to "
                "'classical'",
            )
        return SHIPPED
    return Path(os.path.expanduser(name))


def torch_device(device: str) -> torch.device:
    """The torch device for the node's ``device`` ("cpu", "cuda", "cuda:N", "gpu"), checked."""
    index = kernels.gpu_index(device)
    if index is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BgmatteError(
            param("device"),
            f"PyTorch {torch.__version__} sees no CUDA GPU for the network",
            "install a CUDA build of PyTorch on a machine with an NVIDIA GPU, or set "
            f"{param('device')} to 'cpu'",
        )
    if index >= torch.cuda.device_count():
        raise BgmatteError(
            param("device"),
            f"{device} does not exist (PyTorch sees {torch.cuda.device_count()} CUDA GPUs)",
            f"pick one of those, or set {param('device')} to 'cpu'",
        )
    return torch.device("cuda", index)


def get_model(
    name: str, runtime: str = "torch", device: torch.device | None = None
) -> tuple[MattingNetwork, threading.Lock]:
    """The loaded network for ``name`` and its lock (loaded once per file version, runtime
    and device). ``runtime`` 'onnxruntime' (:mod:`bgmatte.plugin.model.ort`) is for the CPU;
    on a GPU the network runs in PyTorch."""
    device = device or torch.device("cpu")
    path = weights_path(name)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    runtime = runtime if device.type == "cpu" else "torch"
    key = (str(path), stamp, runtime, str(device))
    with _models_lock:
        if key not in _models:
            model = load_network(path)
            fold_batch_norms(model)  # inference only: one pass less over every feature map
            model = model.to(device, memory_format=torch.channels_last)
            if runtime == "onnxruntime":
                from bgmatte.plugin.model.ort import onnxruntime_network

                model = onnxruntime_network(model)
            _models[key] = (model, threading.Lock())
        return _models[key]


# ensemble='flips': the frame as is, mirrored left-right, upside down and both; the alphas
# averaged (test-time augmentation), at four times the network's cost (figures: the README).
FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))

BASE_MAX = 512  # px: the base pass's long side in 'auto' (BGMv2's HD and 4K bases are 480)


def base_scale(value: str, width: int, height: int) -> float:
    """'auto': the largest of 1/2, 1/4, 1/8 that keeps the base's long side within
    :data:`BASE_MAX` (BGMv2's 1/4 at HD, 1/8 at 4K). Frames up to 1K get a half-size base,
    since a quarter-size base of a small frame loses whole strands and the veil (the model
    card has the figures)."""
    if value != "auto":
        return float(value)
    for scale in (0.5, 0.25):
        if max(width, height) * scale <= BASE_MAX:
            return scale
    return 0.125


Frame = np.ndarray | torch.Tensor  # H×W×C (or H×W), on the CPU or already on the device


def _padded(
    plate: Frame,
    clean: Frame,
    segmentation: Frame | None,
    size: tuple[int, int],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """src, bgr (1, 3, *size) and seg (1, 1, *size) or None: the frames padded to ``size``
    by replicating their last row and column, written once (as ``dtype``) into one
    channels-last buffer of which they are adjacent channel views, so the refiner takes them
    as one tensor without a copy (:func:`.refiner.joined`), and each of its windows is one
    gather of contiguous pixels. Frames already on the device (tensors) are not uploaded again."""
    frames = [
        f if f.ndim == 3 else f[..., None] for f in (plate, clean, segmentation) if f is not None
    ]
    channels = sum(f.shape[2] for f in frames)
    h, w = frames[0].shape[:2]
    buf = torch.empty((1, *size, channels), dtype=dtype, device=device)
    c = 0
    for f in frames:
        if isinstance(f, torch.Tensor):
            t = f
        elif device.type != "cpu":  # the same upload the edge passes and the unmix take
            t = uploads.to_device(f, device)
        else:
            t = torch.from_numpy(np.ascontiguousarray(f, np.float32))
        # converted while contiguous, then copied into the buffer's strided channels: in
        # bf16 less than half the time of converting on the strided write (HD 18 -> 7 ms, same
        # bits)
        buf[0, :h, :w, c : c + f.shape[2]] = t.to(device=device, dtype=dtype)
        c += f.shape[2]
    buf[0, h:, :w] = buf[0, h - 1 : h, :w]  # replicate: rows, then columns (the corner too)
    buf[0, :, w:] = buf[0, :, w - 1 : w]
    x = buf.permute(0, 3, 1, 2)
    return x[:, 0:3], x[:, 3:6], x[:, 6:7] if segmentation is not None else None


def _flip(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    if not dims:
        return t
    return t.flip(dims).contiguous(memory_format=torch.channels_last)


def on_device_prior(dev: torch.device) -> bool:
    """Whether the prior is computed on ``dev`` itself (:mod:`.classical_torch`): on a GPU;
    on the CPU OpenCV's filters are faster."""
    return dev.type == "cuda"


def _derived_prior(
    plate: np.ndarray, clean_plate: np.ndarray, params: Mapping[str, Any], dev: torch.device
) -> tuple[EngineResult, tuple[Frame, Frame, Frame | None]]:
    """The classical matte as the network's prior: at the frame's size ('classical') or from
    the area-halved frame ('classical_half', a quarter of the pixels; the prior is soft).
    Also the plate, clean plate and prior as the network takes them: on a GPU, the tensors the
    prior was computed from and gave, so the frame goes up once."""
    if params["prior"] == "classical_half":
        result = classical.run_halved(plate, clean_plate, params)
    elif not on_device_prior(dev):
        result = classical.run(plate, clean_plate, None, params)
    else:
        clean = matched_clean_plate(plate, clean_plate, params["match_exposure"])
        p, c = (uploads.to_device(f, dev) for f in (plate, clean))
        alpha, error = classical_torch.run(p, c, params)
        host = alpha.cpu().numpy()  # for the rules below and the segmentation pass
        result = EngineResult(
            alpha=host,
            clean_plate=clean,
            difference=Deferred(lambda: np.abs(plate - clean).astype(np.float32)),
            segmentation=Deferred(lambda: host),
            error=Deferred(lambda: error.cpu().numpy()),
        )
        return result, (p, c, alpha)
    return result, (plate, result.clean_plate, result.alpha)


def sure_subject(classical_alpha: np.ndarray) -> np.ndarray:
    """Where the classical matte is solid over a whole neighbourhood (its solid part eroded by
    :data:`SURE_SUBJECT` px, scaled with the frame): the plate differs from the clean plate
    by many noise sigmas all around, so the subject is there, opaque. The network opens holes
    in such a subject where its colour is close to the set's (the yarn of the gt27 cases),
    and alpha is raised to 1 there where the network says at least
    :data:`SURE_SUBJECT_ALPHA`. The erosion keeps soft edges and strands, where a strong
    difference does not mean opaque, out of it; a veil over a contrasting set or a noise-free
    render is solid in the difference matte, hence the param ``fill_holes``."""
    r = max(MIN_SURE_SUBJECT, round(SURE_SUBJECT * max(classical_alpha.shape) / 640))
    solid = (classical_alpha >= 1.0).astype(np.uint8)
    return cv2.erode(solid, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0


def run(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    params: Mapping[str, Any],
    device: str = "cpu",
) -> EngineResult:
    """Alpha and debug passes for one frame (H×W×3 / H×W float32, scene-linear). With a
    "cuda" ``device`` the network (float32) and the classical prior run on that GPU."""
    dev = torch_device(device)
    model, lock = get_model(params["weights"], params["runtime"], dev)
    derived = None
    frames: tuple[Frame, Frame, Frame | None]
    if segmentation is None and params["prior"] != "none" and model.config.segmentation:
        # The paper's soft segmentation prior, derived here from the difference matte.
        with stage("prior"):
            derived, frames = _derived_prior(plate, clean_plate, params, dev)
        segmentation = derived.alpha
        clean = derived.clean_plate
    else:
        clean = matched_clean_plate(plate, clean_plate, params["match_exposure"])
        frames = (plate, clean, segmentation)
    h, w = plate.shape[:2]
    scale = base_scale(params["base_scale"], w, h)
    multiple = 4 * round(1 / scale)
    ph, pw = -h % multiple, -w % multiple
    # bfloat16 only where this CPU runs it faster (measured once per machine: model.precision)
    bf16 = (
        dev.type == "cpu"
        and params["runtime"] == "torch"
        and cpu_precision(params["precision"]) == "bf16"
    )
    # The frames go into the network's buffer in the type its convolutions take them in: in
    # bf16 the buffer is half the size (an HD call's peak RSS 0.78 -> 0.73 GiB, 2 % faster;
    # dev and validation SAD within 0.004).
    dtype = torch.bfloat16 if bf16 else torch.float32
    src, bgr, seg = _padded(*frames, (h + ph, w + pw), dev, dtype)
    mode = params["refine_mode"]
    pixels = int(params["refine_fraction"] * src.shape[2] * src.shape[3])
    passes = FLIPS if params["ensemble"] == "flips" else ((),)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    with lock, torch.inference_mode(), autocast:
        model.backbone_scale = scale
        model.set_refine(
            "sampling" if mode == "off" else mode,
            pixels if mode != "off" else 0,
            min_error=refiner.MIN_ERROR,
        )
        outs: list[tuple[torch.Tensor, ...]] = []
        for dims in passes:  # each pass on the flipped frame, its outputs flipped back
            inputs = [None if t is None else _flip(t, dims) for t in (src, bgr, seg)]
            hint = None
            if params["refine_detail"] > 0 and inputs[2] is not None:
                # contiguous: on the buffer's strided view its pooling takes 2.5× as long
                seg_c = inputs[2].contiguous()
                hint = params["refine_detail"] * refiner.detail_hint(seg_c, scale)
            out = model(*inputs, alpha_only=True, refine_hint=hint)
            outs.append(tuple(_flip(out[i].float(), dims) for i in (0, 2, 4)))
        if len(outs) == 1:  # its outputs as they are: no frame-sized sum and division
            pha, pha_sm, err_sm = outs[0]
        else:
            pha, pha_sm, err_sm = (sum(o) / len(o) for o in zip(*outs, strict=True))
    full = src.shape[2:]
    alpha = pha[0, 0, :h, :w].cpu().numpy().copy()
    snap(alpha)  # as the classical engine
    if derived is not None:
        # Where plate and clean plate agree within the noise, far from any edge, the classical
        # matte is sure it is background: the network may not put subject there (it fills
        # the gaps between strands and halos bright backgrounds otherwise).
        alpha[(derived.alpha == 0.0) & (derived.error.get() < SURE_BACKGROUND)] = 0.0
        if params["fill_holes"] and params["separate_shadows"]:
            # (without the separation the classical matte keys a cast shadow as solid)
            alpha[sure_subject(derived.alpha) & (alpha >= SURE_SUBJECT_ALPHA)] = 1.0

    def full_size(t: torch.Tensor) -> np.ndarray:
        """A base-resolution map at the frame's size (float32 H×W)."""
        with torch.inference_mode():
            up = F.interpolate(t, full, mode="bilinear", align_corners=False)[0, 0, :h, :w]
            return np.ascontiguousarray(up.cpu().numpy(), dtype=np.float32)

    prior = segmentation
    return EngineResult(
        alpha=np.ascontiguousarray(alpha, dtype=np.float32),
        clean_plate=clean,
        difference=Deferred(lambda: np.abs(plate - clean).astype(np.float32)),
        segmentation=Deferred(
            (lambda: prior.astype(np.float32)) if prior is not None else (lambda: full_size(pha_sm))
        ),
        error=Deferred(lambda: full_size(err_sm)),
    )
