"""End-to-end speed of the default `facepipe convert` (face swap) against the ffmpeg-only transcode.

Usage: python bench/convert.py [--runs 1] [--frames N] [--sizes 640x360,1280x720] [--model DIR] [--device cuda]
                               [--clip VIDEO] [--set KEY=VALUE ...] [--markdown docs/benchmarks.md [--section convert]]
Clips: the bundled 640x360 sample (or --clip), and the same clip scaled to each other --sizes entry
(1280x720: a real face, larger); --frames N uses only the first N frames (a short run). The sample's 194
frames take 11 s: the command's fixed start (Python, imports, model loads) weighs on its fps; a longer
--clip shows what a user's real video gets. Prints, per clip: ffmpeg CLI transcode
fps (same x264 settings), facepipe passthrough fps, facepipe default convert fps, the ratios, and the busy
time of each stage in ms per frame. Stages run in parallel threads, so their ms add up to more than the wall
time per frame. With --markdown the same figures go into that page's section as tables.

The GPU figure (issue 25): ``--device cuda --section convert-gpu`` runs the swap convert with
``pipeline.device = "cuda"`` on 1280x720 and 1920x1080 copies (unless --sizes says otherwise), names the
device, and names each clip's slowest stage: with the default bank swap only the occlusion segmenter
runs on the GPU, so a CPU face stage is what bounds the speed. ``--device cpu`` runs the same on the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.errors import FacepipeError  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.media.decode import probe  # noqa: E402

SAMPLE = REPO / "samples" / "sample.mp4"


@dataclass
class ClipResult:
    """One clip's figures: frames per second of each command and the swap's busy ms per frame per stage."""

    name: str
    size: str
    frames: int
    runs: int
    fps: dict[str, float]
    busy_ms: dict[str, float] = field(default_factory=dict)


def timed(command: list[str]) -> float:
    """Wall seconds of one command; a failing command ends the bench with its last error line."""
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"bench/convert.py: {' '.join(command[:5])} ... failed (exit {done.returncode}): {last}")
    return time.perf_counter() - started


def bench_clip(clip: Path, work: Path, runs: int, model: str | None, settings: list[str]) -> ClipResult:
    encode = load_config().encode
    info = probe(clip)
    frames = info.frame_count
    cli = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", encode.codec, "-preset", encode.preset,
           "-crf", str(encode.crf), "-pix_fmt", encode.pix_fmt, "-c:a", "copy", str(work / "cli.mp4")]
    base = [sys.executable, "-m", "pipeline.cli.main", "convert", str(clip), "--overwrite", "-q"]
    stats_file = work / "stats.json"
    swap = base + ["-o", str(work / "swap.mp4"), "--stats", str(stats_file)]
    if model:
        swap += ["--set", f"swap.model={json.dumps(model)}"]
    for setting in settings:
        swap += ["--set", setting]
    plain = base + ["-o", str(work / "plain.mp4"), "--passthrough"]
    times: dict[str, list[float]] = {"cli": [], "plain": [], "swap": []}
    steady: list[float] = []
    for _ in range(runs):
        times["cli"].append(timed(cli))
        times["plain"].append(timed(plain))
        times["swap"].append(timed(swap))
        steady.append(json.loads(stats_file.read_text())["fps"])
    fps = {name: frames / statistics.median(values) for name, values in times.items()}
    fps["steady"] = statistics.median(steady)  # the runner's own: stages opened and frames run, no process start-up
    steps = json.loads(stats_file.read_text())["steps"]
    result = ClipResult(clip.name, f"{info.width}x{info.height}", frames, runs, fps,
                        {name: step["ms_per_frame"] for name, step in steps.items()})
    print(f"\n{clip.name}: {result.size}, {frames} frames (median of {runs})")
    print(f"  ffmpeg CLI transcode      : {fps['cli']:7.1f} fps")
    print(f"  facepipe --passthrough    : {fps['plain']:7.1f} fps  ({fps['plain'] / fps['cli']:.2f}x ffmpeg)")
    print(f"  facepipe convert (swap)   : {fps['swap']:7.1f} fps  ({fps['swap'] / fps['cli']:.2f}x ffmpeg)")
    print(f"    without the start-up    : {fps['steady']:7.1f} fps  (the runner: model loads and frames, as a long video sees)")
    print("  busy ms per frame: " + ", ".join(f"{name} {ms:.1f}" for name, ms in result.busy_ms.items()))
    print(f"  slowest stage: {slowest_stage(result)}")
    return result


def device_name(setting: str) -> str:
    """The device the swap convert runs its torch stages on, in words (a bench on a missing GPU says so)."""
    from pipeline.device import resolve_device

    resolved = resolve_device(setting)
    if resolved.startswith("cuda"):
        import torch

        return f"{resolved} ({torch.cuda.get_device_name(torch.device(resolved))})"
    return f"{resolved} (torch stages on the CPU)"


def make_clip(source: Path, out: Path, frames: int, size: str | None) -> None:
    """``source`` cut to its first ``frames`` frames (0 = all) and/or scaled to ``size``, re-encoded nearly losslessly."""
    command = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(source)]
    if frames:
        command += ["-frames:v", str(frames), "-shortest"]
    if size:
        width, height = size.split("x")
        command += ["-vf", f"scale={width}:{height}:flags=lanczos"]
    subprocess.run(command + ["-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-c:a", "copy", str(out)], check=True)


def slowest_stage(result: ClipResult) -> str:
    """The face stage with the most busy time per frame (decode and encode left out): what bounds the run."""
    stages = {name: ms for name, ms in result.busy_ms.items() if name not in ("decode", "encode")}
    return max(stages, key=stages.get) if stages else "-"


def markdown(results: list[ClipResult], frames_total: int, args: argparse.Namespace) -> str:
    """The figures as the page shows them: what was run, one speed table, one per-stage table."""
    used = f"the first {args.frames} of its {frames_total} frames" if args.frames else f"all {frames_total} frames"
    settings = " ".join([f"`swap.model={args.model}`"] * bool(args.model) + [f"`{s}`" for s in args.set]) or "the defaults"
    runs = results[0].runs if results else args.runs
    short = (" (a short run, cut and re-encoded at crf 16: start-up weighs heavily in its fps)" if args.frames else "")
    lines = [f"Clip: `{args.clip_name}`, {used}{short}; other sizes are copies scaled with lanczos and re-encoded at "
             f"crf 16. Swap settings: {settings}. Device: {getattr(args, 'device_name', '-')}. Frames per second of the whole command (start-up included), median of "
             f"{runs} run(s); ffmpeg CLI = the same x264 settings, audio copied.", ""]
    lines.append(table(["clip", "frames", "ffmpeg CLI fps", "facepipe --passthrough fps", "x ffmpeg",
                        "facepipe convert (swap) fps", "x ffmpeg", "convert without start-up fps"],
                       [(r.size, r.frames, f"{r.fps['cli']:.1f}", f"{r.fps['plain']:.1f}", f"{r.fps['plain'] / r.fps['cli']:.2f}",
                         f"{r.fps['swap']:.1f}", f"{r.fps['swap'] / r.fps['cli']:.3f}", f"{r.fps['steady']:.1f}")
                        for r in results]))
    start = (" ({:.1f} s here)".format(results[0].frames / results[0].fps["swap"] - results[0].frames / results[0].fps["steady"])
             if results else "")
    lines.append("\"Without start-up\" is the runner's own rate (`--stats` fps: opening the stages and every frame, not "
                 f"the Python start, imports and probe of the command{start}), which is what a long video sees.\n")
    stages = list(dict.fromkeys(name for r in results for name in r.busy_ms))
    lines.append("Busy ms per frame of each stage in the swap convert (stages run in parallel threads, so these add "
                 "up to more than the wall time per frame):\n")
    lines.append(table(["clip", *stages, "slowest stage"],
                       [(r.size, *(f"{r.busy_ms[s]:.1f}" if s in r.busy_ms else "-" for s in stages), slowest_stage(r))
                        for r in results]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--frames", type=int, default=0, help="use only the first N frames of the sample (0 = all)")
    parser.add_argument("--sizes", default="640x360,1280x720", help="comma-separated WxH; the sample's own size is "
                        "the sample itself, others are scaled copies")
    parser.add_argument("--model", help="swap model folder or bundled name (default: the bundled one; 'fast')")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for the swap "
                        "convert (repeatable)")
    parser.add_argument("--clip", type=Path, default=SAMPLE, help="the clip to convert (default: the bundled sample)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="pipeline.device of the swap convert "
                        "(default: the configured one); cuda also makes the default sizes 1280x720,1920x1080")
    add_options(parser, "convert")
    args = parser.parse_args()
    if args.device:
        args.set = [f"pipeline.device={json.dumps(args.device)}", *args.set]
        if args.device == "cuda" and args.sizes == parser.get_default("sizes"):
            args.sizes = "1280x720,1920x1080"
    if args.runs < 1 or args.frames < 0:
        parser.error("--runs must be at least 1 and --frames at least 0")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if not (len(s.split("x")) == 2 and all(p.isdigit() and int(p) > 0 for p in s.split("x")))]
    if bad or not sizes:
        parser.error(f"--sizes: expected WxH[,WxH...], got {args.sizes!r}")
    run = begin_run(args)
    try:
        args.device_name = device_name(args.device or load_config().pipeline.device)
    except FacepipeError as exc:
        raise SystemExit(f"bench/convert.py: {exc}") from None
    print(f"device: {args.device_name}")
    if args.model or args.set:
        print("settings: " + " ".join([f"swap.model={args.model}"] * bool(args.model) + args.set))
    if not args.clip.is_file():
        parser.error(f"--clip: {args.clip} not found")
    args.clip_name = "samples/sample.mp4" if args.clip == SAMPLE else args.clip.name
    info = probe(args.clip)
    own = f"{info.width}x{info.height}"
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for size in sizes:
            if size == own and not args.frames:
                clip = args.clip
            else:
                clip = work / f"{args.clip.stem}_{size}.mp4"
                make_clip(args.clip, clip, args.frames, None if size == own else size)
            results.append(bench_clip(clip, work, args.runs, args.model, args.set))
    publish(args, run, markdown(results, info.frame_count, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
