"""Shot previews for review: the composite over a checkerboard as a short MP4, and a contact
sheet of evenly spaced frames (plate, alpha, composite over the checkerboard).

Collected while ``bgmatte render --preview`` renders, from the node's cached results (no
second solve); written at the end, atomically. Display only: the sRGB transfer on linear
light, values above 1.0 clip on screen (never in the EXRs).
"""

from __future__ import annotations

import numpy as np

from bgmatte.host_bridge.contact_sheet import contact_sheet
from bgmatte.host_bridge.imageio import write_mp4
from bgmatte.plugin.display import to_display, to_uint8, write_png
from bgmatte.plugin.passes import Matte

MAX_WIDTH = 960  # preview frames are downscaled to this width (even sizes, as MPEG-4 wants)
SHEET_FRAMES = 6


def checkerboard(h: int, w: int, size: int = 16) -> np.ndarray:
    """A mid-grey linear checkerboard, H×W×3: shows holes and semi-transparency."""
    y, x = np.mgrid[0:h, 0:w]
    check = ((y // size + x // size) % 2).astype(np.float32)
    return np.repeat((0.08 + 0.12 * check)[..., None], 3, axis=2)


def over_checkerboard(matte: Matte) -> np.ndarray:
    """The premultiplied foreground over the checkerboard, linear H×W×3."""
    h, w = matte.alpha.shape
    a = matte.alpha[..., None]
    return matte.foreground * a + (1.0 - a) * checkerboard(h, w)


def _thumb(linear: np.ndarray) -> np.ndarray:
    import cv2

    img = to_uint8(to_display(linear))
    h, w = img.shape[:2]
    scale = min(1.0, MAX_WIDTH / w)
    size = (max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def preview_stem(stem: str) -> str:
    """The path without a .mp4 / .png ending: the preview writes ``<stem>.mp4`` and
    ``<stem>.png``."""
    return stem[:-4] if stem.endswith((".mp4", ".png")) else stem


class ShotPreview:
    """Collects frames during a render; :meth:`write` makes ``<stem>.mp4`` and
    ``<stem>.png``."""

    def __init__(self, stem: str, frames: list[int], fps: float = 24.0) -> None:
        self.stem = preview_stem(stem)
        self.fps = fps
        self.picks = [frames[i] for i in _spread(len(frames), SHEET_FRAMES)]
        self.video: list[np.ndarray] = []
        self.tiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, frame: int, matte: Matte, plate: np.ndarray) -> None:
        """Take ``frame``'s result; ``plate`` is the plate as solved (working space)."""
        comp = over_checkerboard(matte)
        self.video.append(_thumb(comp))
        if frame in self.picks:  # only the sheet's frames are kept at tile size
            self.tiles[frame] = (_small(plate), _small(matte.alpha), _small(comp))

    def write(self) -> list[str]:
        """Write the MP4 and the contact sheet; returns their paths."""
        if not self.video:
            return []
        video = f"{self.stem}.mp4"
        write_mp4(video, self.video, self.fps)
        tiles = []
        for f in sorted(self.tiles):
            plate, alpha, comp = self.tiles[f]
            tiles += [(f"{f} plate", plate), (f"{f} alpha", alpha), (f"{f} over checker", comp)]
        sheet = f"{self.stem}.png"
        write_png(sheet, contact_sheet(tiles, columns=3, width=320))
        return [video, sheet]


def _spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included."""
    if n <= k:
        return list(range(n))
    return [round(i * (n - 1) / (k - 1)) for i in range(k)]


def _small(img: np.ndarray) -> np.ndarray:
    """Every n-th pixel, so the kept tile is at most about 1280 px wide (the sheet shows it
    320 px wide); frames up to 1279 px are kept whole."""
    step = max(1, img.shape[1] // 640)
    return np.ascontiguousarray(img[::step, ::step])
