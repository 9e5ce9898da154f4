"""Data-parallel training on one machine with PyTorch's DistributedDataParallel (DDP):
launching the processes and keeping them in step.

:func:`launch` runs rank 0 in the calling process (so a caller's progress callback and the
return value work as in a one-process run) and ranks 1..N-1 in processes started with the
``spawn`` method. They meet at a TCP store on 127.0.0.1, on a port the system picks, and
talk over gloo on the CPU or NCCL on CUDA (rank r on ``cuda:r``). DDP averages the
gradients; :class:`Shards` is what else a rank knows of the others: its rank, the number of
processes, and the few collectives training needs besides (batch-wide counts, the logged
loss terms, and rank 0's decision of when to stop).

A failed rank does not hang the others: a process that dies closes its connections, and a
rank waiting on it in a collective fails (gloo) or times out; a rank that never reaches the
rendezvous times it out after :data:`STARTUP_TIMEOUT`. The caller then gets a
:class:`~bgmatte.errors.BgmatteError` naming the rank that failed first, the process group
is torn down and no child outlives the call.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from bgmatte.errors import BgmatteError, param

T = TypeVar("T")

STARTUP_TIMEOUT = timedelta(minutes=5)  # every rank at the rendezvous (spawn + imports)
EXIT_GRACE_S = 60.0  # how long the children may take to exit after rank 0 is done


@dataclass(frozen=True)
class Shards:
    """One rank of a data-parallel run: ``rank`` of ``world`` processes, on ``device``."""

    rank: int
    world: int
    device: str

    def total(self, count: torch.Tensor) -> torch.Tensor:
        """``count`` summed over the processes (no gradient: a count of a constant mask)."""
        out = count.detach().clone()
        dist.all_reduce(out)
        return out

    def mean(self, terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each term (a scalar) averaged over the processes, detached: with equal slices and
        terms scaled as :mod:`.losses` scales them, the whole batch's value."""
        stacked = torch.stack([v.detach().float() for v in terms.values()])
        dist.all_reduce(stacked)
        return dict(zip(terms, (stacked / self.world).unbind(), strict=True))

    def agree(self, steps: int, stop: bool) -> tuple[int, bool]:
        """Rank 0's step count and stop decision, on every rank (a time budget is measured
        by each process's own clock; ranks that disagreed would wait on each other)."""
        told = torch.tensor([steps, int(stop)], dtype=torch.int64, device=self.device)
        dist.broadcast(told, 0)
        return int(told[0]), bool(told[1])


def launch(
    world: int,
    backend: str,
    fn: Callable[..., T],
    kwargs: Mapping[str, Any],
    local: Mapping[str, Any] | None = None,
) -> T:
    """``fn(shards=Shards(rank, world, device), **kwargs)`` on ``world`` processes, rank 0
    here (with ``local`` added to its arguments: callbacks and such that need not travel);
    returns rank 0's result. ``fn`` and ``kwargs`` must pickle (``spawn``). ``backend``:
    ``gloo`` (the CPU) or ``nccl`` (CUDA, one GPU per rank). Every rank runs with the
    caller's torch default dtype."""
    store = dist.TCPStore(
        "127.0.0.1", 0, world, is_master=True, timeout=STARTUP_TIMEOUT, wait_for_workers=False
    )
    ctx = mp.get_context("spawn")
    dtype = torch.get_default_dtype()
    children: list[_Child] = []
    try:
        for rank in range(1, world):
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_child,
                args=(fn, dict(kwargs), rank, world, store.port, backend, dtype, send),
                name=f"bgmatte-train-rank{rank}",
            )
            process.start()
            send.close()
            children.append(_Child(rank, process, receive))
        _await(store, children)
        result = _run(fn, {**kwargs, **(local or {})}, 0, world, store, backend)
    except BaseException as exc:
        failed = _stop(children, EXIT_GRACE_S)
        if failed and _is_collective_failure(exc):
            raise _failure(failed) from exc
        raise
    failed = _stop(children, EXIT_GRACE_S)
    if failed:
        raise _failure(failed)
    return result


@dataclass
class _Child:
    rank: int
    process: Any  # a spawn context's Process
    errors: multiprocessing.connection.Connection  # what the child reports when it fails


class _PeerGone(RuntimeError):
    """A rank exited before it reached the rendezvous."""


def _await(store: dist.TCPStore, children: list[_Child]) -> None:
    """Wait until every child has reached the store; fail as soon as one has exited instead
    (a child that dies on its way, e.g. in an import, would otherwise keep rank 0 waiting
    at the rendezvous until :data:`STARTUP_TIMEOUT`)."""
    keys = [f"started/{c.rank}" for c in children]
    deadline = time.monotonic() + STARTUP_TIMEOUT.total_seconds()
    while keys and not store.check(keys):
        gone = [c.rank for c in children if not c.process.is_alive()]
        if gone:
            raise _PeerGone(f"rank {gone[0]} exited before the rendezvous")
        if time.monotonic() > deadline:
            raise _PeerGone(f"the ranks did not all start within {STARTUP_TIMEOUT}")
        time.sleep(0.02)


def _run(
    fn: Callable[..., T],
    kwargs: Mapping[str, Any],
    rank: int,
    world: int,
    store: dist.Store,
    backend: str,
) -> T:
    """One rank: join the process group, run ``fn``, leave the group (also on failure)."""
    device = "cpu"
    if backend == "nccl":
        torch.cuda.set_device(rank)
        device = f"cuda:{rank}"
    dist.init_process_group(backend, store=store, rank=rank, world_size=world)
    try:
        return fn(shards=Shards(rank, world, device), **kwargs)
    finally:
        dist.destroy_process_group()


def _child(
    fn: Callable[..., object],
    kwargs: Mapping[str, Any],
    rank: int,
    world: int,
    port: int,
    backend: str,
    dtype: torch.dtype,
    errors: multiprocessing.connection.Connection,
) -> None:
    """A spawned rank, with the caller's torch default dtype. On failure it sends rank 0
    whether the error is a collective failing (so most likely because another rank failed)
    and its traceback, then exits non-zero."""
    torch.set_default_dtype(dtype)
    try:
        store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=STARTUP_TIMEOUT)
        store.set(f"started/{rank}", "1")
        _run(fn, kwargs, rank, world, store, backend)
    except BaseException as exc:
        errors.send((_is_collective_failure(exc), traceback.format_exc()))
        errors.close()
        raise
    errors.close()
    # Done: leave without the interpreter's teardown. A rank that had finished every
    # collective was seen to abort in it now and then ("terminate called without an active
    # exception", exit code -6: a C++ thread of torch.distributed still joinable while the
    # interpreter destroyed its objects), failing a run that had succeeded. Only rank 0
    # writes, so there is nothing left to flush but the standard streams.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is torch.distributed giving up on a collective or the rendezvous (a
    peer gone, a timeout): the sign of a failure elsewhere rather than here."""
    if isinstance(exc, dist.DistError | _PeerGone):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("Connection closed by peer", "Connection reset", "Timed out")
    )


def _stop(children: list[_Child], grace: float) -> list[tuple[int, int | None, str]]:
    """Wait up to ``grace`` seconds for the children to exit, end those still running, and
    return ``(rank, exit code, traceback)`` of each that failed: the likely first cause first
    (a rank whose own code failed before one whose collective lost a peer), then by rank."""
    deadline = time.monotonic() + grace
    while (running := [c.process.sentinel for c in children if c.process.is_alive()]) and (
        left := deadline - time.monotonic()
    ) > 0:
        multiprocessing.connection.wait(running, timeout=left)
    failed: list[tuple[bool, int, int | None, str]] = []
    for c in children:
        if c.process.is_alive():
            c.process.terminate()
        c.process.join()
        secondary, text = True, ""
        try:
            if c.errors.poll():
                secondary, text = c.errors.recv()
        except (EOFError, OSError):
            pass
        c.errors.close()
        if c.process.exitcode != 0:
            failed.append((secondary, c.rank, c.process.exitcode, text))
    return [(rank, code, text) for _, rank, code, text in sorted(failed)]


def _failure(failed: list[tuple[int, int | None, str]]) -> BgmatteError:
    """The error that names the first failed rank, with its error's last line."""
    rank, code, text = failed[0]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    why = lines[-1] if lines else f"exit code {code}"
    return BgmatteError(
        param("processes"),
        f"training process rank {rank} failed ({why})",
        "its traceback is above; fix its cause, or train in one process",
    )
