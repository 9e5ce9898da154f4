"""The command line: ``bgmatte render``, ``bgmatte demo``, ``bgmatte info``,
``bgmatte install-ofx``.

Flags for node params are made from the node's one parameter table
(:data:`bgmatte.plugin.params.PARAMS`), so the command line and every other host agree on
names, hints, defaults and ranges. A :class:`BgmatteError` becomes one line on stderr and
exit status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bgmatte.errors import BgmatteError, BgmatteWarning, library_text
from bgmatte.plugin import heap
from bgmatte.plugin.params import PARAMS, PASSES


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_spelling(name: str) -> str:
    """A parameter as the command line spells it: its flag (the requested passes: --pass)."""
    return "--pass" if name == "passes" else _flag(name)


def _add_params(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("node parameters")
    for p in PARAMS:
        extra = f" (default {p.default})"
        if p.type == "bool":
            group.add_argument(
                _flag(p.name),
                dest=p.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=p.hint + extra,
            )
        elif p.type == "choice":
            group.add_argument(
                _flag(p.name), dest=p.name, choices=p.choices, default=None, help=p.hint + extra
            )
        else:
            kind: Any = {"float": float, "int": int, "string": str, "path": str}[p.type]
            rng = f" range {p.range[0]:g}..{p.range[1]:g}" if p.range else ""
            group.add_argument(
                _flag(p.name), dest=p.name, type=kind, default=None, help=p.hint + extra + rng
            )


def _params(args: argparse.Namespace) -> dict[str, Any]:
    return {p.name: getattr(args, p.name) for p in PARAMS if getattr(args, p.name) is not None}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def _add_shot(parser: argparse.ArgumentParser) -> None:
    """The flags that name a shot and its outputs, with the node's params: ``render`` and
    ``submit`` share them, so a farm job's command is a ``render`` command."""
    parser.add_argument(
        "--plate", required=True, help="plate file or pattern (shot/plate.####.exr)"
    )
    parser.add_argument("--clean-plate", required=True, help="clean plate file or pattern")
    parser.add_argument("--segmentation", help="optional soft segmentation file or pattern")
    parser.add_argument("--background", help="optional new background (enables composite)")
    parser.add_argument("--frames", help="frame range: 1001-1100, 1-20x2, 1,5,9")
    parser.add_argument("--out", required=True, help="output EXR file or pattern")
    parser.add_argument(
        "--pass",
        dest="passes",
        action="append",
        default=[],
        choices=[*PASSES, "all"],
        help="extra pass written as a named layer (repeatable; 'all' for every pass)",
    )
    parser.add_argument("--float", dest="half", action="store_false", help="write 32-bit float")
    parser.add_argument("--skip-existing", action="store_true", help="keep frames already written")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_params(parser)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgmatte", description="Background matting: plate + clean plate -> alpha + foreground."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="matte a shot or a still to EXR")
    _add_shot(render)
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    render.add_argument(
        "--preview",
        metavar="STEM",
        help="also write STEM.mp4 (composite over a checkerboard) and STEM.png (contact sheet)",
    )
    farm = render.add_argument_group("cluster (pip install 'bgmatte[farm]')")
    farm.add_argument(
        "--cluster", choices=["ray"], help="render the frames' chunks on a Ray cluster"
    )
    farm.add_argument(
        "--address", help="join this Ray cluster (auto, ray://host:port); default: a local Ray"
    )
    farm.add_argument(
        "--workers", type=_positive, help="worker processes (default: the cluster's CPU count)"
    )
    farm.add_argument(
        "--chunk", type=_positive, help="frames per task (default: about 4 tasks per worker)"
    )
    farm.add_argument(
        "--threads-per-worker",
        type=_positive,
        help="CPUs (torch threads) each worker takes (default 1)",
    )

    submit = sub.add_parser("submit", help="send a shot to a render farm as a job")
    farms = submit.add_subparsers(dest="farm", required=True)
    cue = farms.add_parser(
        "opencue", help="an OpenCue job: one layer, chunks of bgmatte render (opencue.io)"
    )
    _add_shot(cue)
    job = cue.add_argument_group("the job (pip install 'bgmatte[farm]')")
    job.add_argument("--chunk", type=_positive, default=10, help="frames per task (default 10)")
    job.add_argument(
        "--dry-run", metavar="JOB.xml", help="write the job's XML spec here and submit nothing"
    )
    job.add_argument("--show", default=os.environ.get("SHOW", "bgmatte"), help="$SHOW")
    job.add_argument("--shot", default=os.environ.get("SHOT", "shot"), help="$SHOT")
    job.add_argument("--job-name", help="default: SHOW-SHOT-bgmatte")
    job.add_argument("--user", help="default: the login name")
    job.add_argument(
        "--bgmatte",
        default="bgmatte",
        help="how a render host runs bgmatte (default 'bgmatte'; e.g. '/opt/bgmatte/bin/bgmatte')",
    )

    demo = sub.add_parser("demo", help="render the built-in procedural demo shot")
    demo.add_argument("--out", default="bgmatte_demo", help="folder for the EXRs and contact sheet")
    demo.add_argument("--device", default="cpu", help="cpu or cuda")

    train = sub.add_parser("train", help="train the photo model (see configs/photo.toml)")
    train.add_argument("--config", required=True, help="TOML config")
    train.add_argument("--out", required=True, help="run folder: checkpoints, logs, weights")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train.add_argument("--steps", type=int, help="override the config's step count")
    train.add_argument("--device", help="cpu or cuda (default: the config's)")
    train.add_argument("--workers", type=int, help="data-loading processes")
    train.add_argument(
        "--processes",
        type=_positive,
        default=1,
        help="data-parallel training processes (DistributedDataParallel: gloo on the CPU, "
        "NCCL on GPUs; the batch is split between them, rank 0 writes)",
    )
    train.add_argument("--minutes", type=float, help="fit the run into this many minutes")
    train.add_argument("--init", help="start from these weights (.safetensors)")
    train.add_argument("--wandb", action="store_true", help="also log to W&B, offline mode")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    from bgmatte.bench.registry import BENCHMARKS

    bench = sub.add_parser("bench", help="print quality, speed or alignment figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for b in BENCHMARKS.values():
        b.add_arguments(bench_sub.add_parser(b.name, help=b.help))

    adapt = sub.add_parser(
        "adapt", help="fine-tune the photo model on a shot's own frames (self-supervised)"
    )
    adapt.add_argument("--plate", required=True, help="plate file pattern ('shot.####.exr')")
    adapt.add_argument("--clean-plate", required=True, help="clean plate file or pattern")
    adapt.add_argument("--segmentation", help="optional soft segmentation file or pattern")
    adapt.add_argument("--frames", help="frames to learn from (default: every plate frame)")
    adapt.add_argument("--out", required=True, help="adapted weights (.safetensors)")
    adapt.add_argument("--config", help="TOML with an [adapt] section (configs/adapt.toml)")
    adapt.add_argument("--steps", type=int, help="override the config's step count")
    adapt.add_argument("--log", help="folder for TensorBoard, stage grids and report.html")
    adapt.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_params(adapt)

    info = sub.add_parser("info", help="versions, device, OCIO config")
    info.add_argument("--colorspaces", action="store_true", help="list the OCIO colour spaces")
    info.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="print what each file declares and the colour space --colorspace auto reads it as",
    )

    ofx = sub.add_parser("install-ofx", help="link the OpenFX bundle where compositors look")
    ofx.add_argument(
        "--dest", help="plug-in folder (default: first of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins)"
    )
    ofx.add_argument("--copy", action="store_true", help="copy the bundle instead of linking it")
    return parser


def _render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bgmatte.host_bridge.render import render_shot, shot_frames

    inputs, frames, params, passes = _shot(args)
    if args.cluster:
        return _render_on_cluster(args, inputs, frames, params, passes)
    for name in ("address", "workers", "chunk", "threads_per_worker"):
        if getattr(args, name) is not None:
            flag = _flag(name)
            raise BgmatteError(
                flag, "is for a cluster render", f"add --cluster ray, or drop {flag}"
            )
    total = len(shot_frames(args.plate, frames))
    # disable=None: no bar when stderr is not a terminal (farm logs, pipes), so an error there
    # is the one line on stderr, not a line of carriage-returned progress junk before it.
    quiet = True if args.quiet else None
    with tqdm(total=total, unit="frame", disable=quiet, file=sys.stderr) as bar:
        written = render_shot(
            inputs,
            args.out,
            frames=frames,
            params=params,
            passes=passes,
            half=args.half,
            skip_existing=args.skip_existing,
            device=args.device,
            progress=lambda _frame: bar.update(1),
            preview=args.preview,
        )
    print(f"bgmatte: wrote {len(written)} file(s) to {args.out}")
    if args.preview:
        from bgmatte.host_bridge.preview import preview_stem

        stem = preview_stem(args.preview)
        print(f"bgmatte: preview in {stem}.mp4 and {stem}.png")
    return 0


def _shot(
    args: argparse.Namespace,
) -> tuple[dict[str, str | None], list[int] | None, dict[str, Any], list[str]]:
    """The shot the flags of :func:`_add_shot` name: inputs, frames, node params, passes."""
    from bgmatte.host_bridge.sequence import parse_frames

    # `is not None`: an empty --frames '' is a mistake to report, not "render a still".
    frames = parse_frames(args.frames) if args.frames is not None else None
    passes = list(args.passes)
    if "all" in passes:
        passes = [p for p in PASSES if p != "composite" or args.background]
    inputs = {
        "plate": args.plate,
        "clean_plate": args.clean_plate,
        "segmentation": args.segmentation,
        "background": args.background,
    }
    return inputs, frames, _params(args), passes


def _plan(
    args: argparse.Namespace,
    inputs: dict[str, str | None],
    frames: list[int] | None,
    params: dict[str, Any],
    passes: list[str],
) -> tuple[Any, list[int]]:
    """The shot checked as ``render`` checks it: its job and frames (see ``plan_shot``)."""
    from bgmatte.host_bridge.render import plan_shot

    return plan_shot(
        inputs,
        args.out,
        frames=frames,
        params=params,
        passes=passes,
        half=args.half,
        device=args.device,
    )


def _render_on_cluster(
    args: argparse.Namespace,
    inputs: dict[str, str | None],
    frames: list[int] | None,
    params: dict[str, Any],
    passes: list[str],
) -> int:
    """``render --cluster ray``: exit 0 when every frame is written, 1 when a frame failed
    twice (each named on its own line; the others are written)."""
    from tqdm import tqdm

    from bgmatte.host_bridge.ray_render import render_on_ray

    if args.preview:
        raise BgmatteError(
            "--preview",
            "is not made by a cluster render",
            "render with --cluster, then run the same render with --skip-existing --preview",
        )
    job, todo = _plan(args, inputs, frames, params, passes)
    quiet = True if args.quiet else None
    with tqdm(total=len(todo), unit="frame", disable=quiet, file=sys.stderr) as bar:
        result = render_on_ray(
            job,
            todo,
            address=args.address,
            workers=args.workers,
            chunk=args.chunk,
            threads=args.threads_per_worker or 1,
            skip_existing=args.skip_existing,
            spell=cli_spelling,
            progress=lambda _frame: bar.update(1),
            warn=lambda text: print(f"bgmatte: warning: {text}", file=sys.stderr),
        )
    for frame, why in sorted(result.failed.items()):
        print(f"bgmatte: error: frame {frame} failed twice: {why}", file=sys.stderr)
    failed = f"; {len(result.failed)} frame(s) failed" if result.failed else ""
    print(f"bgmatte: wrote {len(result.written)} file(s) to {args.out}{failed}")
    return 1 if result.failed else 0


def _submit_opencue(args: argparse.Namespace) -> int:
    """``submit opencue``: check the shot as ``render`` would, build the job, then write its
    spec (``--dry-run``) or send it to Cuebot."""
    import shlex

    from bgmatte.host_bridge.opencue_job import (
        CueJob,
        default_user,
        frame_range,
        job_spec,
        render_command,
        submit,
    )

    inputs, frames, params, passes = _shot(args)
    _, todo = _plan(args, inputs, frames, params, passes)
    spec, step = frame_range(todo)
    command = render_command(
        shlex.split(args.bgmatte),
        inputs,
        args.out,
        step=step,
        params=params,
        passes=passes,
        half=args.half,
        device=args.device,
        skip_existing=args.skip_existing,
        flag=cli_spelling,
    )
    job = CueJob(
        name=args.job_name or f"{args.show}-{args.shot}-bgmatte",
        show=args.show,
        shot=args.shot,
        user=args.user or default_user(),
        frames=spec,
        chunk=args.chunk,
        command=command,
    )
    chunks = -(-len(todo) // args.chunk)
    if args.dry_run:
        from bgmatte.host_bridge.imageio import write_text_atomically

        write_text_atomically(args.dry_run, job_spec(job), "--dry-run")
        print(
            f"bgmatte: wrote the OpenCue job {job.name} ({len(todo)} frames in {chunks} "
            f"chunk(s)) to {args.dry_run}; nothing submitted"
        )
        return 0
    print(f"bgmatte: submitted {submit(job)} ({len(todo)} frames in {chunks} chunk(s))")
    return 0


def _adapt(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bgmatte.host_bridge.files import FileFetcher
    from bgmatte.host_bridge.render import shot_frames
    from bgmatte.host_bridge.sequence import parse_frames
    from bgmatte.plugin.engines.network import weights_path
    from bgmatte.plugin.training.adapt import (
        adapt,
        load_adapt_config,
        prepare,
        teacher_frame,
        teacher_node,
    )

    cfg = load_adapt_config(args.config)
    if args.steps:
        cfg["steps"] = args.steps
    if not args.out.endswith(".safetensors"):
        raise BgmatteError(
            "--out", f"{args.out} is not a .safetensors file", "name it *.safetensors"
        )
    frames = parse_frames(args.frames) if args.frames is not None else None
    inputs = {
        "plate": args.plate,
        "clean_plate": args.clean_plate,
        "segmentation": args.segmentation,
    }
    fetcher = FileFetcher(inputs)
    todo = shot_frames(args.plate, frames)
    fetcher.check_exists(todo)
    params = _params(args)
    weights = weights_path(params.get("weights", ""))
    teacher = teacher_node(params, weights, cfg)
    quiet = True if args.quiet else None
    with tqdm(total=len(todo), unit="frame", desc="teacher", disable=quiet) as bar:

        def solved(frame: int) -> Any:
            got = teacher_frame(teacher, fetcher, frame)
            bar.update(1)
            return got

        shot = prepare(solved, todo)
    log = args.log or str(Path(args.out).with_suffix("")) + "_adapt"
    with tqdm(total=cfg["steps"], unit="step", desc="adapt", disable=quiet) as bar:

        def progress(step: int, losses: dict[str, float]) -> None:
            bar.n = step
            bar.set_postfix(g=f"{losses['total_g']:.4f}", d=f"{losses['discriminator']:.3f}")
            bar.refresh()

        summary = adapt(shot, weights, args.out, cfg, log, progress)
    print(
        f"bgmatte: adapted weights in {args.out} ({summary['steps']} steps on "
        f"{summary['frames']} frames, {summary['wall_seconds']:.0f} s); report in {log}/report.html"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bgmatte.plugin.training.train import load_config, train

    cfg = load_config(args.config)
    total = args.steps or cfg["train"]["steps"]
    with tqdm(total=total, unit="step", disable=True if args.quiet else None) as bar:

        def progress(step: int, scalars: dict[str, float]) -> None:
            bar.n = step
            bar.set_postfix(
                loss=f"{scalars['total']:.4f}", val_mse=f"{scalars['val_mse_x1e3']:.2f}"
            )

        weights = train(
            args.config,
            args.out,
            resume=args.resume,
            steps=args.steps,
            device=args.device,
            workers=args.workers,
            wandb=args.wandb,
            minutes=args.minutes,
            init=args.init,
            progress=progress,
            processes=args.processes,
        )
    print(f"bgmatte: trained weights in {weights}; report in {Path(args.out) / 'report.html'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import json

    from bgmatte.bench.registry import BENCHMARKS

    rows = BENCHMARKS[args.bench].run(args)
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def _file_info(paths: Sequence[str]) -> int:
    """One line per file: size, stored format, the colour space it declares and the one
    ``--colorspace auto`` reads it as (or why it cannot); 2 when any file is unusable."""
    from bgmatte.host_bridge.files import file_colorspace
    from bgmatte.host_bridge.imageio import read_image
    from bgmatte.plugin import colour

    status = 0
    for path in paths:
        try:
            image = read_image(path, path)
            space = file_colorspace(image, path)
        except BgmatteError as err:
            print(f"bgmatte: error: {library_text(err.spelled(cli_spelling))}", file=sys.stderr)
            status = 2
            continue
        h, w = image.pixels.shape[:2]
        declared = f"declares '{image.colorspace}'" if image.colorspace else "declares nothing"
        read_as = colour.resolve(space, path)
        working = " (the working space)" if read_as == colour.working_space() else ""
        print(f"{path}: {w}x{h} {image.pixel_format}, {declared}; read as '{read_as}'{working}")
    return status


def _info(args: argparse.Namespace) -> int:
    import platform

    import numpy
    import OpenImageIO
    import PyOpenColorIO
    import torch

    from bgmatte import __version__
    from bgmatte.kernels import cupy_available
    from bgmatte.plugin import colour

    if args.files:
        return _file_info(args.files)
    if args.colorspaces:
        print("\n".join(colour.colorspaces()))
        return 0
    print(f"bgmatte {__version__}")
    print(
        f"python {platform.python_version()}  numpy {numpy.__version__}  torch {torch.__version__}"
    )
    print(f"OpenImageIO {OpenImageIO.__version__}  OpenColorIO {PyOpenColorIO.__version__}")
    gpu = "yes" if cupy_available() else "no"
    net_gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no"
    print(
        f"device: cpu ({torch.get_num_threads()} torch threads); CuPy GPU kernels: {gpu}; "
        f"network on a CUDA GPU: {net_gpu}"
    )
    print(f"OCIO config: {colour.config_name()}")
    print(f"working space: {colour.working_space()}")
    print(heap.described())
    return 0


def _one_line(fallback: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints our warnings as one line on stderr, spelled for
    the command line, and hands others to ``fallback``."""

    def show(message: Warning | str, category: type[Warning], *rest: Any) -> None:
        if isinstance(message, BgmatteWarning):
            text = library_text(message.spelled(cli_spelling))
            print(f"bgmatte: warning: {text}", file=sys.stderr)
        else:
            fallback(message, category, *rest)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    heap.keep_frames_in_heap()  # this process is ours (see :mod:`bgmatte.plugin.heap`)
    with warnings.catch_warnings():  # restores the filters and showwarning afterwards
        warnings.simplefilter("default", BgmatteWarning)  # each shown once per place
        warnings.showwarning = _one_line(warnings.showwarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command ``args`` names; a :class:`BgmatteError` becomes one line on stderr and
    exit status 2."""
    try:
        if args.command == "render":
            return _render(args)
        if args.command == "train":
            return _train(args)
        if args.command == "adapt":
            return _adapt(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "submit":
            return _submit_opencue(args)
        if args.command == "install-ofx":
            from bgmatte.host_bridge.install_ofx import install

            for line in install(args.dest, copy=args.copy):
                print(f"bgmatte: {line}")
            return 0
        if args.command == "demo":
            from bgmatte.bench.demo import run_demo

            return run_demo(args.out, device=args.device)
        return _info(args)
    except BgmatteError as err:
        print(f"bgmatte: error: {library_text(err.spelled(cli_spelling))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bgmatte: interrupted", file=sys.stderr)
        return 130
