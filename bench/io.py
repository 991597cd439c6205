"""Passthrough convert vs the plain ffmpeg CLI transcode of the same clip (same x264 settings).

Usage: python bench/io.py [--size 1280x720] [--seconds 10] [--runs 3] [--clip FILE]
                          [--markdown docs/benchmarks.md [--section io]]
Prints frames/s of each (median of interleaved runs) and facepipe's ratio to ffmpeg. The clip is made
with ffmpeg's lavfi sources (testsrc2 + noise, a sine tone as audio) unless --clip is given. With
--markdown the same figures go into that page's section as a table (bench/report.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe, ffmpeg_version  # noqa: E402
from pipeline.media.decode import probe  # noqa: E402


def make_clip(path: Path, size: str, seconds: float) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-vf", "noise=alls=12:allf=t",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(path)], check=True)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clip", help="use this clip instead of a generated one")
    add_options(parser, "io")
    args = parser.parse_args()
    if args.clip and not Path(args.clip).is_file():
        raise SystemExit(f"bench/io.py: clip not found: {args.clip}")
    run = begin_run(args)
    encode = load_config(overrides=["pipeline.stages=[]"]).encode
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = Path(args.clip) if args.clip else work / f"bench_{args.size}.mp4"
        if not args.clip:
            make_clip(clip, args.size, args.seconds)
        frames = probe(clip).frame_count
        cli = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", encode.codec, "-preset", encode.preset,
               "-crf", str(encode.crf), "-pix_fmt", encode.pix_fmt, "-c:a", "copy", str(work / "cli.mp4")]
        ours = [sys.executable, "-m", "pipeline.cli.main", "convert", str(clip), "-o", str(work / "facepipe.mp4"),
                "--passthrough", "--overwrite", "-q"]
        cli_times, our_times = [], []
        for _ in range(args.runs):
            cli_times.append(timed(cli))
            our_times.append(timed(ours))
    cli_fps = frames / statistics.median(cli_times)
    our_fps = frames / statistics.median(our_times)
    what = (f"clip: {clip.name if args.clip else 'generated'} {'' if args.clip else args.size}, {frames} frames; "
            f"ffmpeg {ffmpeg_version()}; x264 preset={encode.preset} crf={encode.crf}; median of {args.runs} interleaved runs")
    print(what)
    print(f"ffmpeg CLI transcode : {cli_fps:7.1f} frames/s")
    print(f"facepipe passthrough : {our_fps:7.1f} frames/s (whole command: probe, decode, encode, start-up)")
    print(f"ratio facepipe/ffmpeg: {our_fps / cli_fps:.3f}")
    generated = "" if args.clip else " (testsrc2 + noise, a sine tone: hard to encode)"
    publish(args, run, what[0].upper() + what[1:] + generated + ".\n\n"
            + table(["command", "frames/s", "ratio to ffmpeg"],
                    [("ffmpeg CLI transcode", f"{cli_fps:.1f}", "1.000"),
                     ("facepipe convert --passthrough (whole command: probe, decode, encode, start-up)", f"{our_fps:.1f}",
                      f"{our_fps / cli_fps:.3f}")]))


if __name__ == "__main__":
    main()
