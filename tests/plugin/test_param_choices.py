"""A choice param's options only ever grow at the end: OpenFX hosts save a choice param as
the index of its option, so an option inserted before others would reopen an artist's saved
script with another option chosen (OpenFX 1.4, kOfxParamTypeChoice: the value is an int)."""

from __future__ import annotations

from bgmatte.plugin.params import PARAMS

# Recorded 2026-12-03 ('classical_half' appended to prior). Append new options; never
# reorder, insert or remove.
RECORDED = {
    "engine": ("classical", "network"),
    "output": (
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
    ),
    "align": ("off", "auto", "homography"),
    "prior": ("classical", "none", "classical_half"),
    "base_scale": ("auto", "1", "0.5", "0.25", "0.125"),
    "refine_mode": ("sampling", "full", "off"),
    "ensemble": ("off", "flips"),
    "runtime": ("torch", "onnxruntime"),
    "precision": ("auto", "fp32", "bf16"),
    "unmix": ("regularised", "exact"),
    "nan": ("error", "zero"),
}


def test_choice_options_keep_their_indices() -> None:
    choices = {p.name: tuple(p.choices or ()) for p in PARAMS if p.type == "choice"}
    assert set(choices) >= set(RECORDED)  # a choice param is never removed
    for name, recorded in RECORDED.items():
        assert choices[name][: len(recorded)] == recorded, name
