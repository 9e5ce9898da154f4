"""bgmatte: background matting for compositors.

Plate + clean plate (+ optional soft segmentation and new background) in, alpha matte and
unpremultiplied scene-linear foreground out. Follows Background Matting (Sengupta et al.,
CVPR 2020) and BGMv2 (Lin et al., CVPR 2021).

The Python call is :func:`matte`, a thin host over the node (:mod:`bgmatte.plugin.node`)
that every other host drives too.
"""

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.api import Matte, matte

__version__ = "0.1.0"
__all__ = ["BgmatteError", "Matte", "__version__", "matte"]
