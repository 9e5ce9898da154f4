"""The matting network's convolutions run by onnxruntime on the CPU (param ``runtime``).

The two dense parts of the network, the base pass (:meth:`MattingNetwork.base`: encoder, ASPP,
decoder on the reduced-resolution frame) and the refiner's convolutions on its patches
(:meth:`Refiner.convs`), are exported to ONNX from whatever weights are loaded (the shipped
model, an adapted shot model, a BGMv2 checkpoint) and run by onnxruntime's CPU provider; the
rest (downscale, transfer, patch selection and cutting, write-back) stays in PyTorch, so both
runtimes share every line of the data flow and differ only in the float rounding of the
convolutions (the README says how closely the mattes agree). Exported in memory, once per
weights file: nothing is written.

The export uses PyTorch's TorchScript-based exporter with dynamic batch, height and width,
because it is much quicker than the ``torch.export`` one, whose export time would make the
first frame of a render wait.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from bgmatte.errors import BgmatteError, param
from bgmatte.plugin.model.network import MattingNetwork

OPSET = 17
FIX = "pip install 'bgmatte[onnx]' (onnxruntime and onnx), or set runtime to torch"


def _onnxruntime() -> Any:
    """The onnxruntime module, after checking that onnx (the exporter's) is there too."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as exc:
        raise BgmatteError(param("runtime"), f"ONNX export is not available ({exc})", FIX) from None
    return onnxruntime


class _Base(nn.Module):
    def __init__(self, model: MattingNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.base(x)


class _Convs(nn.Module):
    def __init__(self, model: MattingNetwork) -> None:
        super().__init__()
        self.refiner = model.refiner

    def forward(self, x: torch.Tensor, y_half: torch.Tensor, y_full: torch.Tensor) -> torch.Tensor:
        return self.refiner.convs(x, y_half, y_full)


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], names: list[str]) -> bytes:
    """``module`` as an ONNX model (bytes), every input's batch, height and width dynamic."""
    buf = io.BytesIO()
    dynamic = {n: {0: "n", 2: f"h_{n}", 3: f"w_{n}"} for n in [*names, "out"]}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter announces its deprecation (and that of its helpers); it is
        # chosen on purpose (above).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(), args, buf,  # type: ignore[arg-type]  # it writes to file objects
            input_names=names, output_names=["out"],
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
        )  # fmt: skip
    return buf.getvalue()


def _runner(model_bytes: bytes, names: list[str], threads: int) -> Callable[..., torch.Tensor]:
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        feed = {
            n: np.ascontiguousarray(t.detach().float().numpy())
            for n, t in zip(names, inputs, strict=True)
        }
        out = session.run(None, feed)[0]
        return torch.from_numpy(out).contiguous(memory_format=torch.channels_last)

    return run


def onnxruntime_network(model: MattingNetwork, threads: int | None = None) -> MattingNetwork:
    """A copy of ``model`` whose base pass and refiner convolutions run in onnxruntime
    (``threads`` intra-op threads; default: PyTorch's thread count)."""
    _onnxruntime()  # the error before the export's second
    threads = threads or torch.get_num_threads()
    net = copy.deepcopy(model).eval()
    cin = net.config.in_channels
    base = _export(_Base(net), (torch.rand(1, cin, 64, 64),), ["x"])
    hidden = net.config.hidden
    guide = net.refiner.conv3.in_channels - 16
    sample = (torch.rand(2, hidden + 4, 8, 8), *(torch.rand(2, guide, 8, 8),) * 2)
    convs = _export(_Convs(net), sample, ["x", "y_half", "y_full"])
    net.base_runner = _runner(base, ["x"], threads)
    net.refiner.runner = _runner(convs, ["x", "y_half", "y_full"], threads)
    return net
