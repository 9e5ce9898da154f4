"""The node's inputs, parameters and passes, declared once as data.

Every host builds its interface from these tables: the command line makes flags from them,
the OpenFX bridge makes parameters and clips from them. Names follow the vocabulary in
DESIGN.md. Validation lives here too, so every host rejects a bad value with the same message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bgmatte.errors import BgmatteError, param

ParamType = Literal["choice", "float", "int", "bool", "string", "path"]


@dataclass(frozen=True)
class Input:
    """One image input of the node."""

    name: str
    label: str
    hint: str
    required: bool


@dataclass(frozen=True)
class Param:
    """One parameter: what a host needs to draw it and what the node needs to check it."""

    name: str
    label: str
    hint: str
    type: ParamType
    default: Any
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to this param's type, or raise BgmatteError."""
        where = param(self.name)
        if self.type == "choice":
            assert self.choices is not None
            if value not in self.choices:
                raise BgmatteError(
                    where, f"'{value}' is not one of {', '.join(self.choices)}", "pick one of those"
                )
            return value
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise BgmatteError(where, f"'{value}' is not true or false", "pass a boolean")
        if self.type == "path":  # a file; empty means the default (hosts show a file picker)
            if isinstance(value, str):
                return value
            raise BgmatteError(where, f"'{value}' is not a path", "pass a file path")
        if self.type == "string":
            if isinstance(value, str) and value:
                return value
            raise BgmatteError(where, f"'{value}' is not a non-empty string", "pass a name")
        if self.type == "int" and isinstance(value, float) and not value.is_integer():
            raise BgmatteError(where, f"'{value}' is not a whole number", "pass an int")
        try:
            number = int(value) if self.type == "int" else float(value)
        except (TypeError, ValueError, OverflowError):
            raise BgmatteError(where, f"'{value}' is not a number", f"pass a {self.type}") from None
        if self.range is not None and not self.range[0] <= number <= self.range[1]:
            lo, hi = self.range
            raise BgmatteError(where, f"{value} is outside {lo:g}..{hi:g}", "pass a value in range")
        return number


INPUTS: tuple[Input, ...] = (
    Input("plate", "Plate", "The shot: the subject in front of the real background.", True),
    Input(
        "clean_plate",
        "Clean plate",
        "The same background without the subject, from the same camera.",
        True,
    ),
    Input(
        "segmentation",
        "Segmentation",
        "Optional soft segmentation of the subject (alpha or luminance), used as a prior.",
        False,
    ),
    Input(
        "background",
        "Background",
        "Optional new background; enables the composite pass.",
        False,
    ),
)

#: Output passes. ``rgba`` is the default; the last ones are debug passes.
PASSES: tuple[str, ...] = (
    "rgba",
    "alpha",
    "foreground",
    "composite",
    "shadow",
    "light",
    "difference",
    "segmentation",
    "error",
    "aligned_clean_plate",
)
DEBUG_PASSES: tuple[str, ...] = ("difference", "segmentation", "error", "aligned_clean_plate")
ENGINES: tuple[str, ...] = ("classical", "network")

PARAMS: tuple[Param, ...] = (
    Param(
        "engine",
        "Engine",
        "Matting engine: 'network' is the trained matting network (see the model card), "
        "'classical' the noise-adaptive difference matte.",
        "choice",
        "network",
        choices=ENGINES,
    ),
    Param(
        "output",
        "Output",
        "Pass the node outputs (rgba = premultiplied foreground + alpha).",
        "choice",
        "rgba",
        choices=PASSES,
    ),
    Param(
        "colorspace",
        "Input colour space",
        "OCIO colour space of the inputs; 'auto' = scene_linear for EXR, the file's own "
        "space for PNG/JPEG/TIFF.",
        "string",
        "auto",
    ),
    Param(
        "match_exposure",
        "Match exposure",
        "Match the clean plate's exposure and white balance to the plate before keying.",
        "bool",
        True,
    ),
    Param(
        "align",
        "Align",
        "Align the clean plate to each frame (hand-held camera): 'auto' warps it only when "
        "the camera moved (a locked-off shot is left untouched), 'homography' always warps, "
        "'off' never. Warns when alignment fails and then uses the clean plate unaligned.",
        "choice",
        "auto",
        choices=("off", "auto", "homography"),
    ),
    Param(
        "separate_shadows",
        "Separate shadows",
        "Take the subject's cast shadow and the light it adds to the set out of the matte, "
        "into the shadow and light passes (the matte keys against the clean plate with them "
        "on it). Off: they key as grey subject.",
        "bool",
        True,
    ),
    Param(
        "light_keyings",
        "Keyings under light",
        "Where the subject adds light to the set (a glow), how many more times the frame is "
        "keyed against the set as lit, each time with the light measured from the last matte "
        "(each a further engine run, on such frames only). 0: the light is measured from the "
        "first matte and not keyed out of it.",
        "int",
        3,
        range=(0, 6),
    ),
    Param(
        "shadow_amount",
        "Shadow amount",
        "How much of the shadow pass the composite lays on the new background (0: none).",
        "float",
        1.0,
        range=(0.0, 1.0),
    ),
    Param(
        "light_amount",
        "Light amount",
        "How much of the light pass the composite adds over the new background (0: none).",
        "float",
        1.0,
        range=(0.0, 1.0),
    ),
    Param(
        "threshold",
        "Threshold",
        "Difference, in multiples of the measured sensor noise, below which a pixel is background.",
        "float",
        4.0,
        range=(0.5, 50.0),
    ),
    Param(
        "softness",
        "Softness",
        "Width of the soft ramp above the threshold, in multiples of the noise.",
        "float",
        8.0,
        range=(0.5, 100.0),
    ),
    Param(
        "shift_tolerance",
        "Shift tolerance",
        "Pixels of clean-plate misregistration forgiven when measuring the difference.",
        "int",
        1,
        range=(0, 3),
    ),
    Param(
        "segmentation_weight",
        "Segmentation weight",
        "How strongly the segmentation input pulls alpha where the difference is ambiguous.",
        "float",
        0.5,
        range=(0.0, 1.0),
    ),
    Param(
        "weights",
        "Weights",
        "Network weights (.safetensors, or an official BGMv2 .pth); empty = the shipped "
        "photo model. Adapted shot models load here too.",
        "path",
        "",
    ),
    Param(
        "prior",
        "Derived segmentation",
        "Without a segmentation input, the network engine takes its soft segmentation prior "
        "from the classical difference matte ('classical', better edges and holes, slower; "
        "'classical_half' computes it at half resolution) or goes without ('none', fastest).",
        "choice",
        "classical",
        # appended, never inserted: OpenFX hosts save a choice as its index
        choices=("classical", "none", "classical_half"),
    ),
    Param(
        "fill_holes",
        "Fill solid holes",
        "With the derived segmentation: where the classical difference matte is solid over a "
        "whole neighbourhood and the network says mostly subject, alpha is 1 (fills the holes "
        "the network opens in a subject close to the set's colour). Turn off for "
        "semi-transparent subjects (smoke, glass, veils) over a contrasting set and for "
        "noise-free renders, where the difference matte is solid over them.",
        "bool",
        True,
    ),
    Param(
        "edge_passes",
        "Edge passes",
        "How many times the soft edge is solved again against the clean plate, taking the "
        "foreground colour as constant within a pixel or so: opens the gaps between dense "
        "strands and sharpens soft edges where the subject's colour stands out from the set. "
        "Each pass costs about 7 ms at HD; 0 keeps the engine's edge.",
        "int",
        8,
        range=(0, 20),
    ),
    Param(
        "base_scale",
        "Base scale",
        "Resolution of the network's base pass relative to the frame; 'auto' keeps the base "
        "at most 512 px wide (1/2 up to 1K, 1/4 at HD and 2K, 1/8 at 4K). "
        "Lower is faster and coarser.",
        "choice",
        "auto",
        choices=("auto", "1", "0.5", "0.25", "0.125"),
    ),
    Param(
        "refine_mode",
        "Refine",
        "Full-resolution refinement: 'sampling' refines the worst patches up to the budget, "
        "'full' refines everywhere (slow), 'off' upsamples the base pass.",
        "choice",
        "sampling",
        choices=("sampling", "full", "off"),
    ),
    Param(
        "refine_fraction",
        "Refine budget",
        "Fraction of the frame's pixels the refiner re-predicts in sampling mode (lower is "
        "faster: 0.012 is BGMv2's HD budget).",
        "float",
        0.1,
        range=(0.0, 1.0),
    ),
    Param(
        "refine_detail",
        "Refine detail",
        "Also refine where the soft segmentation prior has detail the base network's grid "
        "cannot hold (strands, wires), with this weight beside the error map; 0 = the error "
        "map alone.",
        "float",
        1.0,
        range=(0.0, 4.0),
    ),
    Param(
        "ensemble",
        "Ensemble",
        "'flips' runs the network four times, on the frame as is, mirrored, upside down and "
        "both, and averages the mattes: finer strands and fewer holes at four times the "
        "network's cost (a final-render setting); 'off' runs it once.",
        "choice",
        "off",
        choices=("off", "flips"),
    ),
    Param(
        "runtime",
        "Runtime",
        "What runs the network's convolutions on the CPU: 'torch' (PyTorch), or "
        "'onnxruntime' (the same network exported to ONNX; needs bgmatte[onnx]; equal to "
        "float rounding, faster where the benchmark says so).",
        "choice",
        "torch",
        choices=("torch", "onnxruntime"),
    ),
    Param(
        "precision",
        "Precision",
        "The float type of the network's convolutions on the CPU with the torch runtime: "
        "'auto' measures once per machine and takes bfloat16 only where the CPU runs it "
        "faster (bf16 matrix units, Intel AMX), else float32; 'fp32' or 'bf16' force one. "
        "A GPU always runs float32.",
        "choice",
        "auto",
        choices=("auto", "fp32", "bf16"),
    ),
    Param(
        "temporal_radius",
        "Temporal radius",
        "Frames either side of the current one whose mattes, carried along the optical flow, "
        "stabilise it (0 = each frame alone). Frame N depends only on frames N-r..N+r, so "
        "shots render the same in any order or chunking.",
        "int",
        0,
        range=(0, 3),
    ),
    Param(
        "unmix",
        "Foreground solve",
        "How the foreground colour is solved from plate, clean plate and alpha: "
        "'regularised' fits the matting equation with a prior from the subject's colour "
        "nearby, so soft edges over bright backgrounds stay plausible (solid cores are exact); "
        "'exact' divides by alpha, reproducing the plate to the bit wherever alpha > 0.",
        "choice",
        "regularised",
        choices=("regularised", "exact"),
    ),
    Param(
        "nan",
        "NaN policy",
        "What to do with NaN/Inf pixels: 'error' stops, 'zero' replaces them with 0.",
        "choice",
        "error",
        choices=("error", "zero"),
    ),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


def resolve_params(values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each checked; unknown names are an error."""
    out = {p.name: p.default for p in PARAMS}
    for name, value in (values or {}).items():
        if name not in PARAMS_BY_NAME:
            raise BgmatteError(
                param(name),
                "is not a parameter of the node",
                f"use one of {', '.join(PARAMS_BY_NAME)}",
            )
        out[name] = PARAMS_BY_NAME[name].check(value)
    return out
