"""Matting engines: each turns plate + clean plate (+ segmentation) into alpha and debug passes.

The node picks one through its ``engine`` param. The classical difference matte is the
baseline that the network sits beside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bgmatte.plugin.errors import BgmatteError


@dataclass(frozen=True)
class EngineResult:
    """What an engine returns; the foreground is solved afterwards by the linear unmix."""

    alpha: np.ndarray  # H×W float32 in [0, 1]
    clean_plate: np.ndarray  # H×W×3 the clean plate as used: exposure-matched (and aligned)
    difference: np.ndarray  # H×W×3 |plate - clean_plate|, linear
    segmentation: np.ndarray  # H×W the prior used: the input, or one derived from the difference
    error: np.ndarray  # H×W the engine's uncertainty in [0, 1]


Engine = Callable[[np.ndarray, np.ndarray, np.ndarray | None, Mapping[str, Any]], EngineResult]


def get_engine(name: str) -> Engine:
    """The engine called ``name``."""
    if name == "classical":
        from bgmatte.plugin.engines.classical import run

        return run
    if name == "network":
        from bgmatte.plugin.engines.network import run as run_network

        return run_network
    raise BgmatteError("param engine", f"unknown engine '{name}'", "use 'network' or 'classical'")
