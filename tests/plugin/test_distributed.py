"""``train(processes=N)``: data-parallel training (PyTorch DDP) computes what one process
computes on the whole batch, and only rank 0 writes the run folder.

The comparison of weights runs in float64. In float32 this small network amplifies rounding
so much (batch norms over channels of near-zero variance, then AdamW's first step, which
keeps a gradient's sign rather than its size) that one process against itself, with 2
threads instead of 1, already differs by ~6e-3; in float64 the split's maths is what is
measured. Without whole-batch batch norms the weights differ by 2.3, without the losses'
whole-batch counts or the whole batch's dropout mask by 2e-3 and 7e-3.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from bgmatte.errors import BgmatteError
from bgmatte.plugin.training import sync_layers
from bgmatte.plugin.training.data import CompositeSampler
from bgmatte.plugin.training.distributed import launch
from bgmatte.plugin.training.train import BatchSet, train

from .test_training import CONFIG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One step of the tiny config (batch 4, the unknown band's loss on) in float64: the
    initial weights (0 steps), one process, two processes. The one-process runs fail if they
    touch torch.distributed."""
    tmp = tmp_path_factory.mktemp("ddp")
    config = tmp / "tiny.toml"
    config.write_text(
        CONFIG.replace("batch = 2", "batch = 4").replace(
            "steps = 3", "steps = 1\nunknown_weight = 1.0"
        )
    )
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(dist, "init_process_group", _refuse)
            initial = train(config, tmp / "initial", steps=0)
            one = train(config, tmp / "one")
        two = train(config, tmp / "two", processes=2)
    finally:
        torch.set_default_dtype(before)
    return {"initial": initial, "one": one, "two": two}


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("a one-process run joined a process group")


def test_two_processes_train_the_weights_one_process_trains(runs: dict[str, Path]) -> None:
    initial, one, two = (load_file(runs[k]) for k in ("initial", "one", "two"))
    assert set(one) == set(two) == set(initial)
    floats = [k for k in one if one[k].is_floating_point()]
    assert all(one[k].dtype == torch.float64 for k in floats)
    worst = max(float((one[k] - two[k]).abs().max()) for k in floats)
    assert worst <= 1e-6
    moved = [k for k in floats if float((one[k] - initial[k]).abs().max()) > 1e-4]
    assert len(moved) > len(floats) // 2  # the step changed the weights: not a vacuous match
    first, last = "backbone.features.0.0.weight", "refiner.conv4.weight"
    assert {first, last, "decoder.bn1.running_var", "refiner.bn3.running_mean"} <= set(moved)
    with safe_open(str(runs["two"]), "pt") as f:
        assert (f.metadata() or {})["processes"] == "2"
    with safe_open(str(runs["one"]), "pt") as f:
        assert (f.metadata() or {})["processes"] == "1"


def _names(run: Path) -> list[str]:
    """The run folder's files, TensorBoard's event files by their stem (their names carry
    the time, host and process)."""
    names = [str(p.relative_to(run)) for p in run.rglob("*")]
    return sorted(re.sub(r"(events\.out\.tfevents)\..*", r"\1", n) for n in names)


def test_only_rank_0_writes(runs: dict[str, Path]) -> None:
    one, two = runs["one"].parent, runs["two"].parent
    assert _names(two) == _names(one)
    assert "images/stages_000001.png" in _names(two)
    assert len(list((two / "tensorboard").iterdir())) == 1


def test_sampler_shards_concatenate_to_the_batch() -> None:
    sampler = CompositeSampler(None, seed=5)
    whole = sampler.sample(7, 6, 64)
    for parts in (2, 3, 6):
        slices = [sampler.sample(7, 6, 64, part=(r, parts)) for r in range(parts)]
        for key, value in whole.items():
            assert np.array_equal(np.concatenate([s[key] for s in slices]), value), (parts, key)
    items = [BatchSet(sampler, 6, 64, 8, part=(r, 2))[7] for r in range(2)]
    assert torch.equal(torch.cat([i["plate"] for i in items]), torch.from_numpy(whole["plate"]))


@pytest.fixture()
def one_process_group() -> Any:
    """A process group of one process (this one), so that the synchronised layers take their
    distributed path."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("momentum", [0.1, None])
def test_sync_batch_norm_is_batch_norm_on_one_process(
    one_process_group: None, momentum: float | None
) -> None:
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(5, momentum=momentum)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 2.0)
        plain.bias.uniform_(-1.0, 1.0)
    synced = nn.Sequential(plain.__class__(5, momentum=momentum))
    synced.load_state_dict({f"0.{k}": v for k, v in plain.state_dict().items()})
    assert sync_layers.convert(synced) == 1
    bn = synced[0]
    assert isinstance(bn, sync_layers.SyncBatchNorm2d) and isinstance(bn, nn.BatchNorm2d)
    for _ in range(2):  # twice: the running statistics' update from a non-zero start
        x = (torch.randn(4, 5, 6, 7) * 3 + 10).contiguous(memory_format=torch.channels_last)
        grad = torch.randn(4, 5, 6, 7)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = plain(xa), bn(xb)
        (ya * grad).sum().backward()
        (yb * grad).sum().backward()
        torch.testing.assert_close(yb, ya)
        torch.testing.assert_close(xb.grad, xa.grad)
    torch.testing.assert_close(bn.weight.grad, plain.weight.grad)
    torch.testing.assert_close(bn.bias.grad, plain.bias.grad)
    torch.testing.assert_close(bn.running_mean, plain.running_mean)
    torch.testing.assert_close(bn.running_var, plain.running_var)
    assert bn.num_batches_tracked is not None and plain.num_batches_tracked is not None
    assert int(bn.num_batches_tracked) == int(plain.num_batches_tracked) == 2
    bn.load_state_dict(plain.state_dict())  # the same statistics, to the bit
    plain.eval(), bn.eval()
    x = torch.randn(3, 5, 4, 4)
    assert torch.equal(bn(x), plain(x))  # eval mode: nn.BatchNorm2d itself


def _norm_on_rank_0_only(shards: Any) -> tuple[torch.Tensor, ...]:
    """Rank 0 normalises a batch, rank 1 nothing (a refiner that selected no patch)."""
    torch.manual_seed(4)
    x = torch.randn(4, 5, 6, 7) * 2 + 1
    bn = nn.BatchNorm2d(5)
    sync_layers.convert(bn)
    mine = (x if shards.rank == 0 else x[:0]).requires_grad_(True)
    bn(mine).square().sum().backward()
    assert mine.grad is not None and bn.weight.grad is not None
    assert bn.running_mean is not None and bn.running_var is not None
    return mine.grad, bn.weight.grad, bn.running_mean, bn.running_var


def test_sync_batch_norm_over_processes_where_one_has_no_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the child imports this module by its name
    torch.manual_seed(4)
    x = (torch.randn(4, 5, 6, 7) * 2 + 1).requires_grad_(True)
    bn = nn.BatchNorm2d(5)
    bn(x).square().sum().backward()
    got = launch(2, "gloo", _norm_on_rank_0_only, {})
    # rank 1 holds no values: rank 0's statistics, gradients and running statistics are
    # those of one process on the same batch
    for a, b in zip(got, (x.grad, bn.weight.grad, bn.running_mean, bn.running_var), strict=True):
        torch.testing.assert_close(a, b)


def test_sync_layers_outside_a_process_group_are_their_torch_layers() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3))
    twin = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3))
    twin.load_state_dict(model.state_dict())
    assert sync_layers.convert(twin) == 2
    assert list(twin.state_dict()) == list(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.manual_seed(2)
    a = model(x)
    torch.manual_seed(2)
    assert torch.equal(twin(x), a)


def test_sharded_dropout_draws_what_dropout_draws(one_process_group: None) -> None:
    drop = nn.Dropout(0.4)
    sharded = nn.Dropout(0.4)
    sync_layers.convert(sharded)
    x = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    a = drop(x)
    torch.manual_seed(3)
    assert torch.equal(sharded(x), a)


def test_a_batch_that_does_not_split_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)  # batch = 2
    msg = (
        "processes: a batch of 2 does not split evenly over 3 processes; make the batch "
        "(train.batch in the config) a multiple of 3, or use a number of processes that "
        "divides it"
    )
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        train(config, tmp_path / "run", processes=3)
    assert not (tmp_path / "run").exists()


def _fails_on_rank_1(shards: Any) -> str:
    if shards.rank == 1:
        raise ValueError("rank 1 cannot go on")
    dist.all_reduce(torch.ones(1))  # rank 1 never joins: this collective fails here
    return "finished"


def test_a_failing_rank_is_named_and_nothing_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the child imports this module by its name
    msg = (
        "processes: training process rank 1 failed (ValueError: rank 1 cannot go on); its "
        "traceback is above; fix its cause, or train in one process"
    )
    with pytest.raises(BgmatteError, match=f"^{re.escape(msg)}$"):
        launch(2, "gloo", _fails_on_rank_1, {})
    assert not dist.is_initialized()
