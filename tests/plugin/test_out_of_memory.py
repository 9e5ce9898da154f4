""":mod:`bgmatte.plugin.out_of_memory`: a frame that runs out of memory is one line naming the
memory, the frame and the fix, whichever library ran out."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch

import bgmatte
from bgmatte.bench.scenes.demo_shot import DemoShot
from bgmatte.errors import RenderAborted
from bgmatte.plugin import out_of_memory, solve

HOST_FIX = (
    "close the programs that hold memory, render fewer frames at once (fewer farm workers on "
    "the machine, a smaller temporal_radius), or render a smaller frame"
)
GPU_FIX = "set device to 'cpu', close the programs that hold GPU memory, or render a smaller frame"


def _failing(monkeypatch: pytest.MonkeyPatch, err: BaseException) -> None:
    """The edge passes (a stage in the middle of the frame) raise ``err``."""

    def fail(*args: object) -> np.ndarray:
        raise err

    monkeypatch.setattr(solve, "solve_edges", fail)


def _numpy_oom() -> MemoryError:
    try:
        np.empty(2**62, np.uint8)
    except MemoryError as err:
        return err
    raise AssertionError("NumPy allocated 4 EiB")


@pytest.mark.parametrize(
    "make",
    [
        _numpy_oom,
        lambda: cv2.error(
            "OpenCV(4.11.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate "
            "33177600 bytes in function 'OutOfMemoryError'"
        ),
        lambda: RuntimeError(
            "[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 33177600 bytes."
        ),
    ],
    ids=["numpy", "opencv", "torch"],
)
def test_the_host_running_out_is_one_line(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch, make: Callable[[], Exception]
) -> None:
    err = make()
    _failing(monkeypatch, err)
    with pytest.raises(bgmatte.BgmatteError) as info:
        bgmatte.matte(small_shot.plate, small_shot.clean_plate)
    said = str(err)  # one line each: NumPy's "Unable to allocate 4.00 EiB for an array ..."
    assert (
        str(info.value) == f"memory: this machine ran out of memory on frame 1 ({said}); {HOST_FIX}"
    )
    assert info.value.input_name == "memory" and info.value.__cause__ is err


def test_the_gpu_running_out_is_one_line_and_its_first(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.6 GiB "
        "of which 1.1 GiB is free.\nOf the allocated memory 5.9 GiB is allocated by PyTorch."
    )
    _failing(monkeypatch, err)
    with pytest.raises(bgmatte.BgmatteError) as info:
        bgmatte.matte(small_shot.plate, small_shot.clean_plate)
    assert str(info.value) == (
        "device: the GPU ran out of memory on frame 1 (CUDA out of memory. Tried to allocate "
        "2.00 GiB. GPU 0 has a total capacity of 7.6 GiB of which 1.1 GiB is free.); " + GPU_FIX
    )
    assert info.value.__cause__ is err


def test_cupy_running_out_is_the_gpu_s() -> None:
    # CuPy's OutOfMemoryError is a MemoryError from a cupy module: made here without CuPy
    oom = type("OutOfMemoryError", (MemoryError,), {"__module__": "cupy.cuda.memory"})
    told = out_of_memory.error(oom("Out of memory allocating 33,177,600 bytes"), 7)
    assert told is not None and str(told) == (
        "device: the GPU ran out of memory on frame 7 (Out of memory allocating 33,177,600 "
        "bytes); " + GPU_FIX
    )


@pytest.mark.parametrize(
    "err", [RuntimeError("a shape mismatch"), ValueError("x"), RenderAborted("stop")]
)
def test_other_errors_pass_as_they_are(
    small_shot: DemoShot, monkeypatch: pytest.MonkeyPatch, err: Exception
) -> None:
    _failing(monkeypatch, err)
    with pytest.raises(type(err)) as info:
        bgmatte.matte(small_shot.plate, small_shot.clean_plate)
    assert info.value is err
