"""End-to-end speed of the default `facepipe convert` (face swap) against the ffmpeg-only transcode.

Usage: python bench/convert.py [--runs 1] [--model DIR] [--set KEY=VALUE ...]
Clips: the bundled 640x360 sample, and the same clip upscaled to 1280x720 (a real face, larger).
Prints, per clip: ffmpeg CLI transcode fps (same x264 settings), facepipe passthrough fps, facepipe
default convert fps, the ratios, and the busy time of each stage in ms per frame. Stages run in
parallel threads, so their ms add up to more than the wall time per frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.media.decode import probe  # noqa: E402


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - started


def bench_clip(clip: Path, work: Path, runs: int, model: str | None, settings: list[str]) -> None:
    encode = load_config().encode
    frames = probe(clip).frame_count
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
    for _ in range(runs):
        times["cli"].append(timed(cli))
        times["plain"].append(timed(plain))
        times["swap"].append(timed(swap))
    fps = {name: frames / statistics.median(values) for name, values in times.items()}
    info = probe(clip)
    print(f"\n{clip.name}: {info.width}x{info.height}, {frames} frames (median of {runs})")
    print(f"  ffmpeg CLI transcode      : {fps['cli']:7.1f} fps")
    print(f"  facepipe --passthrough    : {fps['plain']:7.1f} fps  ({fps['plain'] / fps['cli']:.2f}x ffmpeg)")
    print(f"  facepipe convert (swap)   : {fps['swap']:7.1f} fps  ({fps['swap'] / fps['cli']:.2f}x ffmpeg)")
    steps = json.loads(stats_file.read_text())["steps"]
    print("  busy ms per frame: " + ", ".join(f"{name} {step['ms_per_frame']:.1f}" for name, step in steps.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--model", help="swap model folder or bundled name (default: the bundled one; 'fast')")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for the swap "
                        "convert (repeatable)")
    args = parser.parse_args()
    if args.model or args.set:
        print("settings: " + " ".join([f"swap.model={args.model}"] * bool(args.model) + args.set))
    sample = REPO / "samples" / "sample.mp4"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        big = work / "sample_720p.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(sample), "-vf", "scale=1280:720:flags=lanczos",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-c:a", "copy", str(big)], check=True)
        for clip in (sample, big):
            bench_clip(clip, work, args.runs, args.model, args.set)


if __name__ == "__main__":
    main()
