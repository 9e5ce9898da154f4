"""The whole network: base at reduced resolution + refiner at full resolution (BGMv2 §3),
its config, and weights in and out (safetensors; official BGMv2 ``.pth`` checkpoints too).

Tensors here use BGMv2's short names: src (plate), bgr (clean plate), seg (segmentation),
pha (alpha), fgr (foreground), err (error map), hid (hidden features), ref (refined patches).
Inputs are in the network space of :mod:`.encoding`.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn

from bgmatte.errors import BgmatteError, param
from bgmatte.plugin.model import encoding
from bgmatte.plugin.model.decoder import ASPP, Decoder
from bgmatte.plugin.model.mobilenet import MobileNetV2Encoder
from bgmatte.plugin.model.refiner import Refiner, adjacent, joined
from bgmatte.plugin.timing import stage


@dataclass(frozen=True)
class NetworkConfig:
    """What defines the weights' shapes. BGMv2's official models are
    ``NetworkConfig("mobilenetv2")`` and ``NetworkConfig("resnet50")`` with
    ``segmentation=False, clamp_foreground=True``."""

    backbone: str = "mobilenetv2"  # mobilenetv2 | resnet50 | resnet101
    width: float = 1.0  # MobileNetV2 width multiplier
    aspp_channels: int = 256
    decoder_channels: tuple[int, ...] = (256, 128, 64, 48)
    segmentation: bool = False  # a segmentation prior (and its presence flag) as input
    clamp_foreground: bool = True  # BGMv2 clamps fgr to [0, 1]; our HDR models do not
    # "none": inputs arrive in network space (BGMv2); "asinh": inputs are scene-linear and
    # the network encodes them itself, after downscaling / on the refiner's crops only.
    transfer: str = "none"
    hidden: int = 32  # hidden feature channels handed from the base to the refiner
    exact_crops: bool = True  # BGMv2's refiner crops to the bit; False: faster, to float rounding
    downsample: str = "bilinear"  # BGMv2's; "area" averages linear light (our models)
    refine_prior: bool = False  # the refiner sees the segmentation prior too (needs segmentation)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return 8 if self.segmentation else 6

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkConfig:
        data = json.loads(text)
        data["decoder_channels"] = tuple(data["decoder_channels"])
        return cls(**data)


class MattingNetwork(nn.Module):
    """src, bgr (B, 3, H, W) [, seg (B, 1, H, W)] → pha, fgr, pha_sm, fgr_sm, err_sm, ref_sm.

    H and W must be multiples of 4. ``fgr`` is the full-resolution foreground (network space).
    """

    def __init__(
        self,
        config: NetworkConfig | None = None,
        *,
        backbone_scale: float = 0.25,
        refine_mode: str = "sampling",
        refine_sample_pixels: int = 80_000,
        refine_threshold: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = config = config or NetworkConfig()
        cin = config.in_channels
        if config.backbone == "mobilenetv2":
            self.backbone: nn.Module = MobileNetV2Encoder(cin, config.width)
            deep, *skips = self.backbone.channels
        elif config.backbone in ("resnet50", "resnet101"):
            from bgmatte.plugin.model.resnet import ResNetEncoder

            self.backbone = ResNetEncoder(cin, config.backbone)
            deep, skips = 2048, [512, 256, 64]
        else:
            raise BgmatteError(
                param("weights"),
                f"unknown backbone '{config.backbone}'",
                "use mobilenetv2 or resnet50",
            )
        self.aspp = ASPP(deep, (3, 6, 9), config.aspp_channels)
        dec = (config.aspp_channels, *config.decoder_channels[1:], 1 + 3 + 1 + config.hidden)
        self.decoder = Decoder(dec, (*skips, cin))
        self.refiner = Refiner(
            refine_mode,
            refine_sample_pixels,
            refine_threshold,
            config.hidden,
            config.exact_crops,
            prior=config.segmentation and config.refine_prior,
        )
        self.backbone_scale = backbone_scale
        # Another runtime for :meth:`base` (onnxruntime, :mod:`.ort`); None = these modules.
        self.base_runner: Callable[[torch.Tensor], torch.Tensor] | None = None

    def set_refine(
        self,
        mode: str | None = None,
        sample_pixels: int | None = None,
        threshold: float | None = None,
        min_error: float | None = None,
    ) -> None:
        """Change the refiner's speed/quality knobs (they do not change the weights)."""
        if min_error is not None:
            self.refiner.min_error = min_error
        if mode is not None:
            self.refiner.mode = mode
        if sample_pixels is not None:
            self.refiner.sample_pixels = sample_pixels
        if threshold is not None:
            self.refiner.threshold = threshold

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, h, w) → (B, 37, h, w): pha, fgr residual, err, hid (raw)."""
        if self.base_runner is not None:
            return self.base_runner(x)
        x4, *skips = self.backbone(x)
        return self.decoder(self.aspp(x4), *skips)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Input space → network space (see :mod:`.encoding`)."""
        return encoding.encode(x) if self.config.transfer == "asinh" else x

    def downscale(self, x: torch.Tensor) -> torch.Tensor:
        """Full resolution → base resolution."""
        if self.config.downsample == "area":
            k = round(1 / self.backbone_scale)
            return F.avg_pool2d(x, k)
        return F.interpolate(
            x,
            scale_factor=self.backbone_scale,
            mode="bilinear",
            align_corners=False,
            recompute_scale_factor=True,
        )

    def forward(
        self,
        src: torch.Tensor,
        bgr: torch.Tensor,
        seg: torch.Tensor | None = None,
        alpha_only: bool = False,
        has_seg: torch.Tensor | None = None,
        refine_hint: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, ...]:
        """src, bgr (B, 3, H, W) in input space; seg (B, 1, H, W) or None; ``has_seg`` (B,)
        says per sample whether ``seg`` is real (default: all, when seg is given);
        ``refine_hint`` (B, 1, H, W): more reason to refine a patch (in training the true
        alpha's detail, at inference the prior's with ``refine_detail``; see
        :meth:`.Refiner.forward`).

        Returns pha (B,1,H,W), fgr (B,3,H,W; None when ``alpha_only``), pha_sm, fgr_sm,
        err_sm (base resolution) and ref_sm (B,1,H/4,W/4), fgr in network space.
        """
        with stage("base"):
            src_sm, out, seg_full = self._base_pass(src, bgr, seg, has_seg)
        pha_sm = out[:, 0:1].clamp(0.0, 1.0)
        fgr_sm = out[:, 1:4]
        err_sm = out[:, 4:5].clamp(0.0, 1.0)
        hid_sm = out[:, 5:].relu()
        with stage("refine"):
            pha, fgr, ref_sm = self.refiner(
                src,
                bgr,
                pha_sm,
                fgr_sm,
                err_sm,
                hid_sm,
                self.encode,
                alpha_only,
                seg_full,
                refine_hint,
            )
        fgr_sm = fgr_sm + src_sm
        if fgr is not None:
            fgr = fgr + self.encode(src)
        if self.config.clamp_foreground:
            fgr_sm = fgr_sm.clamp(0.0, 1.0)
            fgr = None if fgr is None else fgr.clamp(0.0, 1.0)
        return pha.clamp(0.0, 1.0), fgr, pha_sm, fgr_sm, err_sm, ref_sm

    def _base_pass(
        self,
        src: torch.Tensor,
        bgr: torch.Tensor,
        seg: torch.Tensor | None,
        has_seg: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The base network on the downscaled, encoded inputs: (src_sm, its raw output,
        the full-resolution segmentation the refiner sees, or None)."""
        frames = [src, bgr] + ([seg] if self.config.segmentation and seg is not None else [])
        if adjacent(frames):  # one downscale of all (a strided view's own is slower)
            small = self.downscale(joined(frames))
            downs = [small[:, 0:3], small[:, 3:6], small[:, 6:]]
        else:
            downs = [self.downscale(f) for f in frames]
        src_sm = self.encode(downs[0])
        parts = [src_sm, self.encode(downs[1])]
        seg_full = None
        if self.config.segmentation:
            if seg is None:
                parts += [torch.zeros_like(src_sm[:, :1])] * 2
            else:
                seg_sm = downs[2]
                flag = torch.ones_like(seg_sm)
                if has_seg is not None:
                    present = has_seg.to(seg_sm.dtype)[:, None, None, None]
                    flag = flag * present
                    seg_full = seg * present
                else:
                    seg_full = seg
                parts += [seg_sm * flag, flag]
        return src_sm, self.base(torch.cat(parts, dim=1)), seg_full


def save_weights(
    model: MattingNetwork, path: str | Path, meta: dict[str, str] | None = None
) -> None:
    """Write the weights and the config as safetensors (no pickle)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": model.config.to_json(), **(meta or {})})


def warm_start(model: MattingNetwork, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` into ``model`` where a tensor has grown input channels (a config that
    adds an input, e.g. ``refine_prior``): the old channels are copied and the new ones start
    at zero, so the warm-started network computes exactly what the old one did. Returns the
    names of the grown tensors; any other mismatch is an error."""
    own = model.state_dict()
    if set(own) != set(state):
        raise ValueError(f"warm start: tensors differ ({sorted(set(own) ^ set(state))[:4]}...)")
    grown = []
    for name, old in state.items():
        new = own[name]
        if old.shape == new.shape:
            continue
        if (
            old.ndim != 4
            or old.shape[0] != new.shape[0]
            or old.shape[2:] != new.shape[2:]
            or (old.shape[1] > new.shape[1])
        ):
            raise ValueError(f"warm start: {name} {tuple(old.shape)} -> {tuple(new.shape)}")
        padded = torch.zeros_like(new)
        padded[:, : old.shape[1]] = old
        state = {**state, name: padded}
        grown.append(name)
    model.load_state_dict(state)
    return grown


def _bgmv2_config(state: dict[str, torch.Tensor]) -> NetworkConfig:
    if any(k.startswith("backbone.features.") for k in state):
        return NetworkConfig("mobilenetv2")
    blocks = {k.split(".")[2] for k in state if k.startswith("backbone.layer3.")}
    return NetworkConfig("resnet101" if len(blocks) > 6 else "resnet50")


def load_network(path: str | Path, **runtime: Any) -> MattingNetwork:
    """A network from ``.safetensors`` (ours, config in the metadata) or an official BGMv2
    ``.pth`` checkpoint (``backbone.*``, ``aspp.*``, ``decoder.*``, ``refiner.*``)."""
    path = Path(path)
    if not path.is_file():
        raise BgmatteError(
            param("weights"), f"file not found: {path}", f"check the {param('weights')} path"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            state = load_file(str(path))
            config = (
                NetworkConfig.from_json(meta["config"])
                if "config" in meta
                else _bgmv2_config(state)
            )
        else:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
            state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
            if not isinstance(state, dict) or not all(
                isinstance(v, torch.Tensor) for v in state.values()
            ):
                raise ValueError("not a state dict of tensors")
            config = _bgmv2_config(state)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError,
            pickle.UnpicklingError, SafetensorError) as exc:  # fmt: skip
        raise BgmatteError(
            param("weights"),
            f"cannot read {path} ({str(exc).splitlines()[0][:120]})",
            "pass a bgmatte .safetensors file or an official BGMv2 .pth checkpoint",
        ) from exc
    model = MattingNetwork(config, **runtime)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or misshapen:
        raise BgmatteError(
            param("weights"),
            f"{path} does not fit the {config.backbone} network ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(misshapen)} misshapen tensors)",
            "pass weights saved by bgmatte or an official BGMv2 checkpoint",
        )
    model.load_state_dict(state)
    return model.eval()
