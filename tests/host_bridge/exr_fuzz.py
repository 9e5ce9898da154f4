"""Seeded mutations of EXR files, for the bad-input fuzz tests.

:func:`base_exr` writes a small textured shot with our own writer
(:func:`bgmatte.host_bridge.imageio.write_exr`: zip compression, half or float, the colour
space declared as ``colorInteropID``) and pins the header's time stamp, so the bytes are the
same on every run. :func:`mutate` damages a copy the way disks, networks and other programs
do, guided by the file's layout (:func:`parse`):

* the header: an attribute's name, type, size or value, with values chosen per attribute
  (``dataWindow`` and ``displayWindow`` corners, the ``channels`` list's names, pixel types
  and sampling, ``compression``, ``lineOrder``, ``colorInteropID`` text, floats), the magic
  number and the version flags, and bytes inserted into or deleted from the header;
* the chunk offset table and the chunks' own headers (scanline and data size);
* the compressed pixel data (bit flips, overwritten or zeroed runs);
* the file's end: truncated anywhere, garbage appended, or no bytes at all.

A mutant is 1 to 3 of these steps, drawn from ``random.Random(seed)`` alone: the same seed
gives the same bytes, and :attr:`Mutant.steps` says in words what was done. Plain Python and
NumPy; no test framework, so a failing seed can be replayed from a shell::

    .venv/bin/python tests/host_bridge/exr_fuzz.py --seed 17 --out /tmp/fz   # plate, clean, mutant
"""

from __future__ import annotations

import argparse
import math
import os
import random
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bgmatte.host_bridge.imageio import write_exr

__all__ = ["Layout", "Mutant", "base_exr", "flip_bits", "mutate", "parse", "shot_pixels"]

H, W = 48, 64
MAGIC = b"\x76\x2f\x31\x01"
CAPDATE = b"2024:01:01 00:00:00"  # the pinned time stamp (same length as any capDate)
COLOUR_SPACE = "ACEScg"  # written as colorInteropID
# Scanlines per chunk for each EXR compression, to size the offset table.
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_INTS = (0, 1, -1, 2, 3, 15, 16, 17, 47, 48, 49, 63, 64, 65, 255, 256, 4096, 65535, 65536,
         1 << 24, 1 << 30, 2**31 - 1, -(2**31), -2, -100)  # fmt: skip
_FLOATS = (math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e-45, 65504.0, 1e38, -1e38)
_TYPES = ("box2i", "box2f", "chlist", "compression", "lineOrder", "float", "double", "int",
          "string", "v2f", "v2i", "v3f", "m33f", "m44f", "rational", "stringvector")  # fmt: skip


# ---- the base shot ---------------------------------------------------------------------------
def shot_pixels(h: int = H, w: int = W, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(plate, clean plate): a textured scene-linear background, and the same background
    behind an HDR orange disc, float32 H×W×3."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack([0.2 + 0.4 * x / w, 0.3 + 0.3 * y / h, 0.25 + 0.1 * (x + y) / (w + h)], -1)
    clean = (clean + 0.05 * rng.random((h, w, 3))).astype(np.float32)
    a = np.clip((12.0 - np.hypot(x - w / 2, y - h / 2)) / 4.0, 0.0, 1.0)[..., None]
    fg = np.array([3.0, 0.6, 0.1], np.float32)
    plate = a * fg + (1.0 - a) * clean + rng.normal(0.0, 0.003, clean.shape)
    return plate.astype(np.float32), clean


def base_exr(which: str = "plate", *, half: bool = True) -> bytes:
    """The bytes of ``which`` ("plate" or "clean") as our writer writes it, time stamp pinned."""
    plate, clean = shot_pixels()
    pixels = plate if which == "plate" else clean
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{which}.exr")
        write_exr(path, [("", pixels)], half=half, colorspace=COLOUR_SPACE)
        with open(path, "rb") as f:
            data = bytearray(f.read())
    layout = parse(bytes(data))
    for attr in layout.attributes:
        if attr.name == b"capDate" and attr.size == len(CAPDATE) + 1:
            data[attr.value_at : attr.value_at + len(CAPDATE)] = CAPDATE
    return bytes(data)


# ---- the layout ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    """One header attribute: where its name, type, size field and value start."""

    name: bytes
    type: bytes
    at: int
    type_at: int
    size_at: int
    value_at: int
    size: int


@dataclass(frozen=True)
class Layout:
    """Where things are in a single-part scanline EXR: the attributes, the header's closing
    null byte, the offset table, and each chunk (start, length including its 8-byte header)."""

    attributes: tuple[Attribute, ...]
    header_end: int
    table_at: int
    chunks: tuple[tuple[int, int], ...]
    channels: tuple[tuple[int, int], ...]  # (start, end) of each channel name in the chlist

    def attribute(self, name: bytes) -> Attribute | None:
        """The attribute called ``name``, if the header has one."""
        return next((a for a in self.attributes if a.name == name), None)


def parse(data: bytes) -> Layout:
    """The layout of a valid single-part scanline EXR (our writer's files)."""
    if data[:4] != MAGIC:
        raise ValueError("not an EXR file")
    pos, attrs = 8, []
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        (size,) = struct.unpack_from("<i", data, type_end + 1)
        attrs.append(
            Attribute(
                data[pos:name_end],
                data[name_end + 1 : type_end],
                pos,
                name_end + 1,
                type_end + 1,
                type_end + 5,
                size,
            )
        )
        pos = type_end + 5 + size
    layout = Layout(tuple(attrs), pos, pos + 1, (), ())
    window, compression = layout.attribute(b"dataWindow"), layout.attribute(b"compression")
    channels = layout.attribute(b"channels")
    assert window is not None and compression is not None and channels is not None
    _, y0, _, y1 = struct.unpack_from("<4i", data, window.value_at)
    count = -(-(y1 - y0 + 1) // _LINES_PER_CHUNK[data[compression.value_at]])
    offsets = struct.unpack_from(f"<{count}Q", data, pos + 1)
    chunks = tuple((o, 8 + struct.unpack_from("<i", data, o + 4)[0]) for o in offsets)
    return Layout(tuple(attrs), pos, pos + 1, chunks, _channels(data, channels))


def _channels(data: bytes, attr: Attribute) -> tuple[tuple[int, int], ...]:
    """(name start, name end) of each entry of a ``chlist`` value."""
    out, pos, end = [], attr.value_at, attr.value_at + attr.size
    while pos < end and data[pos] != 0:
        name_end = data.index(b"\0", pos)
        out.append((pos, name_end))
        pos = name_end + 1 + 16  # pixel type, pLinear + 3 reserved, x and y sampling
    return tuple(out)


# ---- the mutations ---------------------------------------------------------------------------
Step = Callable[[random.Random, bytearray, Layout], str]


def _put(data: bytearray, at: int, fmt: str, value: float) -> bool:
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        return False
    struct.pack_into(fmt, data, at, value)
    return True


def _an_int(rng: random.Random, old: int | None = None) -> int:
    """An int32 worth trying: a boundary, a random one, or ``old`` nudged (wrapped to 32 bits)."""
    if old is not None and rng.random() < 0.3:
        nudged = old + rng.choice((-2, -1, 1, 2, 16, -16))
        return (nudged + 2**31) % 2**32 - 2**31
    if rng.random() < 0.15:
        return rng.randrange(-(2**31), 2**31)
    return rng.choice(_INTS)


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def _flip_bytes(rng: random.Random, data: bytearray, start: int, end: int, label: str) -> str:
    end = min(end, len(data))
    if end <= start:
        return f"{label}: nothing to flip"
    at = rng.randrange(start, end)
    if rng.random() < 0.5:
        bit = rng.randrange(8)
        data[at] ^= 1 << bit
        return f"{label}: bit {bit} of byte {at} flipped"
    value = rng.randrange(256)
    data[at] = value
    return f"{label}: byte {at} set to 0x{value:02x}"


def _attr(rng: random.Random, layout: Layout) -> Attribute:
    # The attributes a reader depends on come up more often than the informational ones.
    weighted = [
        a
        for a in layout.attributes
        for _ in range(3 if a.name in (b"channels", b"dataWindow", b"compression") else 1)
    ]
    return rng.choice(weighted)


def attr_name(rng: random.Random, data: bytearray, layout: Layout) -> str:
    a = _attr(rng, layout)
    return _flip_bytes(rng, data, a.at, a.type_at - 1, f"name of {a.name.decode()}")


def attr_type(rng: random.Random, data: bytearray, layout: Layout) -> str:
    a = _attr(rng, layout)
    same_length = [t for t in _TYPES if len(t) == len(a.type) and t.encode() != a.type]
    if same_length and rng.random() < 0.6:
        other = rng.choice(same_length)
        data[a.type_at : a.type_at + len(a.type)] = other.encode()
        return f"type of {a.name.decode()}: {a.type.decode()} -> {other}"
    return _flip_bytes(rng, data, a.type_at, a.size_at - 1, f"type of {a.name.decode()}")


def attr_size(rng: random.Random, data: bytearray, layout: Layout) -> str:
    a = _attr(rng, layout)
    value = rng.choice((0, 1, -1, a.size - 1, a.size + 1, 2 * a.size, _an_int(rng)))
    _put(data, a.size_at, "<i", value)
    return f"size of {a.name.decode()}: {a.size} -> {value}"


def attr_value(rng: random.Random, data: bytearray, layout: Layout) -> str:
    a = _attr(rng, layout)
    name, kind, at = a.name.decode(), a.type, a.value_at
    if kind == b"box2i":
        corner = rng.randrange(4)
        (old,) = struct.unpack_from("<i", data, at + 4 * corner)
        new = _an_int(rng, old)
        while new == old:  # a step that changes nothing is a wasted case
            new = _an_int(rng, old)
        _put(data, at + 4 * corner, "<i", new)
        return f"{name}[{('xMin', 'yMin', 'xMax', 'yMax')[corner]}]: {old} -> {new}"
    if kind == b"chlist":
        start, end = rng.choice(layout.channels)
        channel = bytes(data[start:end]).decode(errors="replace")
        field = rng.choice(("name", "pixel type", "pLinear", "xSampling", "ySampling"))
        if field == "name":
            if rng.random() < 0.4:  # another channel's name: duplicates, or an unknown letter
                letter = rng.choice(b"RGBAYZ\xff")
                data[end - 1] = letter
                return f"channels: {channel} renamed to {chr(letter)!r}"
            return _flip_bytes(rng, data, start, end, f"channels: name of {channel}")
        offset = {"pixel type": 1, "pLinear": 5, "xSampling": 9, "ySampling": 13}[field]
        if field == "pLinear":
            data[end + offset] = rng.randrange(256)
            return f"channels: pLinear of {channel} set to {data[end + offset]}"
        new = rng.choice((0, 1, 2, 3, -1, 255)) if field == "pixel type" else _an_int(rng)
        _put(data, end + offset, "<i", new)
        return f"channels: {field} of {channel} set to {new}"
    if kind in (b"compression", b"lineOrder"):
        new = rng.randrange(10) if rng.random() < 0.7 else rng.randrange(256)
        data[at] = new
        return f"{name} set to {new}"
    if kind == b"string":
        n = rng.randrange(1, max(2, a.size))
        start = at + rng.randrange(max(1, a.size - n + 1))
        text = _random_bytes(rng, n) if rng.random() < 0.6 else b"sRGB\0Linear"[:n]
        data[start : start + n] = text
        return f"{name}: {n} bytes at {start} overwritten with {text!r}"
    if kind in (b"float", b"v2f"):
        component = rng.randrange(a.size // 4)
        value = rng.choice(_FLOATS)
        _put(data, at + 4 * component, "<f", value)
        return f"{name}[{component}] set to {value}"
    return _flip_bytes(rng, data, at, at + a.size, f"value of {name}")


def version(rng: random.Random, data: bytearray, layout: Layout) -> str:
    if rng.random() < 0.3:
        data[4] = rng.randrange(256)
        return f"version number set to {data[4]}"
    flag = rng.choice((0x02, 0x04, 0x08, 0x10, 0x20, 0x80))
    data[5] ^= flag
    return f"version flags ^= 0x{flag:02x}00"


def magic(rng: random.Random, data: bytearray, layout: Layout) -> str:
    return _flip_bytes(rng, data, 0, 4, "magic number")


def shift_header(rng: random.Random, data: bytearray, layout: Layout) -> str:
    at = rng.randrange(8, layout.header_end + 1)
    if rng.random() < 0.5:
        n = rng.randrange(1, 5)
        data[at:at] = _random_bytes(rng, n)
        return f"{n} bytes inserted into the header at {at}"
    n = rng.randrange(1, 5)
    del data[at : at + n]
    return f"{n} bytes deleted from the header at {at}"


def offset(rng: random.Random, data: bytearray, layout: Layout) -> str:
    i = rng.randrange(len(layout.chunks))
    old = layout.chunks[i][0]
    choices = (0, 1, 8, layout.table_at, len(data), len(data) + 1, 2**63 - 1, 2**64 - 1,
               old + rng.choice((-8, -1, 1, 8)), rng.choice(layout.chunks)[0],
               rng.randrange(2**64))  # fmt: skip
    new = rng.choice(choices)
    while new == old:
        new = rng.choice(choices)
    _put(data, layout.table_at + 8 * i, "<Q", new)
    return f"offset table[{i}]: {old} -> {new}"


def chunk_header(rng: random.Random, data: bytearray, layout: Layout) -> str:
    i = rng.randrange(len(layout.chunks))
    start = layout.chunks[i][0]
    field = rng.randrange(2)
    (old,) = struct.unpack_from("<i", data, start + 4 * field)
    new = _an_int(rng, old)
    while new == old:
        new = _an_int(rng, old)
    _put(data, start + 4 * field, "<i", new)
    return f"chunk {i} {('scanline', 'data size')[field]}: {old} -> {new}"


def pixels(rng: random.Random, data: bytearray, layout: Layout) -> str:
    i = rng.randrange(len(layout.chunks))
    start, length = layout.chunks[i]
    begin, end = start + 8, min(start + length, len(data))
    how = rng.randrange(3)
    if how == 0:
        flips = [_flip_bytes(rng, data, begin, end, "") for _ in range(rng.randrange(1, 9))]
        return f"chunk {i} data: {len(flips)} byte(s) damaged"
    n = rng.randrange(1, 65)
    at = rng.randrange(begin, max(begin + 1, end - n))
    data[at : at + n] = _random_bytes(rng, n) if how == 1 else bytes(n)
    return f"chunk {i} data: {n} bytes at {at} {('', 'randomised', 'zeroed')[how]}"


def truncate(rng: random.Random, data: bytearray, layout: Layout) -> str:
    region = rng.choice(("header", "table", "pixels", "anywhere"))
    bounds = {
        "header": (1, layout.header_end + 1),
        "table": (layout.table_at, layout.table_at + 8 * len(layout.chunks)),
        "pixels": (layout.table_at + 8 * len(layout.chunks), len(data)),
        "anywhere": (0, len(data)),
    }[region]
    at = rng.randrange(*bounds) if bounds[1] > bounds[0] else bounds[0]
    at = min(at, len(data))
    del data[at:]
    return f"truncated to {at} bytes ({region})"


def append(rng: random.Random, data: bytearray, layout: Layout) -> str:
    n = rng.choice((1, 7, 64, rng.randrange(1, 4097)))
    tail = _random_bytes(rng, n) if rng.random() < 0.7 else bytes(data[-n:])
    data += tail
    return f"{n} bytes appended"


def empty(rng: random.Random, data: bytearray, layout: Layout) -> str:
    del data[:]
    return "emptied (zero bytes)"


_STEPS: tuple[tuple[Step, int], ...] = (
    (attr_name, 6),
    (attr_type, 6),
    (attr_size, 7),
    (attr_value, 22),
    (version, 3),
    (magic, 1),
    (shift_header, 3),
    (offset, 10),
    (chunk_header, 8),
    (pixels, 15),
    (truncate, 12),
    (append, 5),
    (empty, 2),
)
_LAST = (truncate, append, empty)  # steps that change the file's length go last


@dataclass(frozen=True)
class Mutant:
    """A damaged copy: its bytes, the seed that made them, and each step in words."""

    seed: int
    data: bytes
    steps: tuple[str, ...]


def mutate(data: bytes, seed: int) -> Mutant:
    """1 to 3 seeded mutation steps applied to ``data`` (a valid EXR from :func:`base_exr`)."""
    rng = random.Random(seed)
    layout = parse(data)
    out = bytearray(data)
    count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    chosen = rng.choices([s for s, _ in _STEPS], weights=[w for _, w in _STEPS], k=count)
    if empty in chosen:
        chosen = [empty]
    chosen.sort(key=lambda s: s in _LAST)  # stable: the rest keep their drawn order
    steps = []
    for step in chosen:
        # Offsets come from the undamaged layout; a step that meets a shorter file does less.
        if not out and step is not empty:
            break
        steps.append(step(rng, out, layout))
    while out == data:  # every step happened to write what was there: damage the pixels
        steps.append(pixels(rng, out, layout))
    return Mutant(seed, bytes(out), tuple(steps))


def flip_bits(pixels: np.ndarray, seed: int, count: int = 8) -> np.ndarray:
    """A copy of float32 ``pixels`` with ``count`` seeded bit flips: what a damaged uncompressed
    file decodes to (exponent bits give NaN, Inf and huge values; the rest, small errors)."""
    rng = random.Random(seed)
    out = np.ascontiguousarray(pixels, dtype=np.float32).copy()
    words = out.reshape(-1).view(np.uint32)
    for _ in range(count):
        words[rng.randrange(words.size)] ^= np.uint32(
            1 << rng.choice((23, 27, 28, 29, 30, 31, rng.randrange(32)))
        )
    return out


def main() -> None:
    """Write the base plate and clean plate and one mutant into a folder, for replaying."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="folder for plate.exr, clean.exr, mutant")
    parser.add_argument("--which", choices=("plate", "clean"), default="plate")
    parser.add_argument("--float", dest="half", action="store_false")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for which in ("plate", "clean"):
        with open(os.path.join(args.out, f"{which}.exr"), "wb") as f:
            f.write(base_exr(which, half=args.half))
    mutant = mutate(base_exr(args.which, half=args.half), args.seed)
    path = os.path.join(args.out, f"{args.which}_mutant_{args.seed}.exr")
    with open(path, "wb") as f:
        f.write(mutant.data)
    print(path)
    for step in mutant.steps:
        print("  " + step)


if __name__ == "__main__":
    main()
