"""Matting engines: each turns plate + clean plate (+ segmentation) into alpha and debug passes.

The node picks one through its ``engine`` param. The classical difference matte is the
baseline that the network sits beside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from bgmatte.errors import BgmatteError, param

_T = TypeVar("_T")


class Deferred(Generic[_T]):
    """A value made the first time it is asked for: a debug pass costs nothing on a render
    that does not write it (a full-resolution difference, an upsampled error map)."""

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make: Callable[[], _T] | None = make
        self._value: _T | None = None
        self._made = False

    @property
    def made(self) -> bool:
        """Whether the value has been made."""
        return self._made

    def get(self) -> _T:
        # Two threads asking at once may both make it; both get equal values.
        if not self._made:
            assert self._make is not None
            self._value, self._make, self._made = self._make(), None, True
        return self._value  # type: ignore[return-value]  # made: _T, which may be None


@dataclass(frozen=True)
class EngineResult:
    """What an engine returns; the foreground is solved afterwards by the linear unmix."""

    alpha: np.ndarray  # H×W float32 in [0, 1]
    clean_plate: np.ndarray  # H×W×3 the clean plate as used: exposure-matched (and aligned)
    difference: Deferred[np.ndarray]  # H×W×3 |plate - clean_plate|, linear
    segmentation: Deferred[np.ndarray]  # H×W the prior used: the input, or derived
    error: Deferred[np.ndarray]  # H×W the engine's uncertainty in [0, 1]


class Engine(Protocol):
    """plate, clean plate (H×W×3), segmentation (H×W or None), params → EngineResult, on
    ``device`` ("cpu", or "cuda[:N]" where the engine can use a GPU; others ignore it)."""

    def __call__(
        self,
        plate: np.ndarray,
        clean_plate: np.ndarray,
        segmentation: np.ndarray | None,
        params: Mapping[str, Any],
        device: str = "cpu",
    ) -> EngineResult: ...


def get_engine(name: str) -> Engine:
    """The engine called ``name``."""
    if name == "classical":
        from bgmatte.plugin.engines.classical import run

        return run
    if name == "network":
        from bgmatte.plugin.engines.network import run as run_network

        return run_network
    raise BgmatteError(param("engine"), f"unknown engine '{name}'", "use 'network' or 'classical'")
