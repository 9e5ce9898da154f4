"""The node's result for one frame and the passes a host asks for.

Pass names are declared in :data:`bgmatte.plugin.params.PASSES`; this is the one place that
maps a name to pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bgmatte import kernels
from bgmatte.errors import BgmatteError, param
from bgmatte.plugin.engines import Deferred
from bgmatte.plugin.timing import stage


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Matte:
    """The result for one frame. All arrays float32, scene-linear, in the working space.

    ``alpha * foreground + (1 - alpha) * clean_plate == plate`` wherever alpha > 0, where
    ``clean_plate`` is the clean plate as the engine used it (exposure-matched, aligned).
    """

    alpha: np.ndarray  # H×W in [0, 1]
    foreground: np.ndarray  # H×W×3 unpremultiplied, unclipped
    clean_plate: np.ndarray  # H×W×3 the clean plate as used
    # the engine's debug passes, each made when first asked for: "difference" (H×W×3),
    # "segmentation" and "error" (H×W)
    debug: Mapping[str, Deferred[np.ndarray]] = field(default_factory=dict)
    composite: np.ndarray | None = None  # H×W×3, when a background was given
    # the subject's cast shadow on the set, H×W (None: 1 everywhere), and the light it adds,
    # H×W×3 as the plate shows it (None: 0 everywhere); see ``shadow`` and ``light``
    shadow_pass: Deferred[np.ndarray | None] = field(default_factory=lambda: Deferred(_nothing))
    light_pass: Deferred[np.ndarray | None] = field(default_factory=lambda: Deferred(_nothing))
    relight_problem: str = ""  # why shadow and light could not be solved ('' if they were)
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def difference(self) -> np.ndarray:
        """|plate - clean plate as used|, linear (H×W×3)."""
        return self.debug["difference"].get()

    @property
    def segmentation(self) -> np.ndarray:
        """The segmentation prior the engine used (H×W)."""
        return self.debug["segmentation"].get()

    @property
    def error(self) -> np.ndarray:
        """The engine's uncertainty in [0, 1] (H×W)."""
        return self.debug["error"].get()

    @property
    def rgba(self) -> np.ndarray:
        """Premultiplied foreground with alpha, H×W×4: what a compositor merges over."""
        with stage("passes"):
            return kernels.premultiply(self.foreground, self.alpha)

    @property
    def shadow(self) -> np.ndarray:
        """The cast shadow's factor on the set's light (H×W; 1: untouched)."""
        got = self.shadow_pass.get()
        return np.ones(self.alpha.shape, np.float32) if got is None else got

    @property
    def light(self) -> np.ndarray:
        """The light the subject adds to the set, as the plate shows it (H×W×3; 0: none)."""
        got = self.light_pass.get()
        return np.zeros((*self.alpha.shape, 3), np.float32) if got is None else got

    def _relight_pass(self, name: str) -> np.ndarray:
        if self.relight_problem:
            raise BgmatteError(
                "clean_plate",
                f"{self.relight_problem}, so the {name} pass cannot be solved",
                f"give a clean plate that aligns (the same textured set, or {param('align')} "
                f"off for a locked-off camera) or drop the {name} pass",
            )
        return self.shadow[..., None] if name == "shadow" else self.light

    def pass_pixels(self, name: str) -> np.ndarray:
        """The named output pass (see ``bgmatte.plugin.params.PASSES``) as H×W×C."""
        if name == "rgba":
            return self.rgba
        if name == "foreground":
            return self.foreground
        if name == "composite":
            if self.composite is None:
                raise BgmatteError(
                    "background", "is not connected", "connect a background for the composite pass"
                )
            return self.composite
        if name in ("shadow", "light"):
            return self._relight_pass(name)
        if name == "aligned_clean_plate":
            return self.clean_plate
        if name == "difference":
            return self.difference
        if name == "alpha":
            return self.alpha[..., None]
        return self.debug[name].get()[..., None]  # segmentation, error
