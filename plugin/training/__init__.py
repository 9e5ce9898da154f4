"""Training of the photo model: data (composites built on the fly), model and loop.

``bundle`` packs the developer mattes and HDR backgrounds once into one ``.npz`` (needs
OpenImageIO and pymatting); ``data`` and ``procedural`` build composites from that bundle or
from nothing, with numpy and scipy alone, so they run on a bare GPU machine too.
"""
