"""Passthrough convert vs the plain ffmpeg CLI transcode of the same clip (same x264 settings).

Usage: python bench/io.py [--sizes 640x360,1280x720] [--seconds 10] [--runs 3] [--clip FILE]
                          [--markdown docs/benchmarks.md [--section io]]
Prints frames/s of each (median of interleaved runs) and facepipe's ratio to ffmpeg, per size. The clip
is made with ffmpeg's lavfi sources (testsrc2 + noise, a sine tone as audio) unless --clip is given; a
--clip is scaled (lanczos, crf 16) to each size other than its own. With --markdown the same figures go
into that page's section as a table (bench/report.py).

Why 10-s clips: facepipe's fixed cost (the Python start and imports, the probe: about 0.1 s) is a
fifth of the 0.5-s transcode of the 8-s sample at 360p, and a twentieth of the 2-s transcode of a
10-s generated clip; the ratio a user converting real footage sees is the longer clip's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def scaled_clip(source: Path, out: Path, size: str) -> Path:
    """``source`` itself at its own size, else a copy scaled to ``size``."""
    info = probe(source)
    if f"{info.width}x{info.height}" == size:
        return source
    width, height = size.split("x")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-vf", f"scale={width}:{height}:flags=lanczos",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-c:a", "copy", str(out)], check=True)
    return out


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(clip: Path, work: Path, runs: int, encode: Any) -> tuple[int, float, float]:
    """(frames, ffmpeg CLI fps, facepipe passthrough fps), medians of ``runs`` interleaved runs; the
    CLI transcode with ``encode``'s settings (facepipe's ``[encode]``)."""
    frames = probe(clip).frame_count
    cli = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-c:v", encode.codec, "-preset", encode.preset,
           "-crf", str(encode.crf), "-pix_fmt", encode.pix_fmt, "-c:a", "copy", str(work / "cli.mp4")]
    ours = [sys.executable, "-m", "pipeline.cli.main", "convert", str(clip), "-o", str(work / "facepipe.mp4"),
            "--passthrough", "--overwrite", "-q"]
    cli_times, our_times = [], []
    for _ in range(runs):
        cli_times.append(timed(cli))
        our_times.append(timed(ours))
    return frames, frames / statistics.median(cli_times), frames / statistics.median(our_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="640x360,1280x720", help="comma-separated WxH")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clip", help="use this clip (scaled to each size) instead of a generated one")
    add_options(parser, "io")
    args = parser.parse_args()
    if args.clip and not Path(args.clip).is_file():
        raise SystemExit(f"bench/io.py: clip not found: {args.clip}")
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    if not sizes or any(not (len(s.split("x")) == 2 and all(p.isdigit() and int(p) > 0 for p in s.split("x")))
                        for s in sizes):
        raise SystemExit(f"bench/io.py: --sizes: expected WxH[,WxH...], got {args.sizes!r}")
    run = begin_run(args)
    encode = load_config(overrides=["pipeline.stages=[]"]).encode
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for size in sizes:
            if args.clip:
                clip = scaled_clip(Path(args.clip), work / f"clip_{size}.mp4", size)
            else:
                clip = work / f"bench_{size}.mp4"
                make_clip(clip, size, args.seconds)
            frames, cli_fps, our_fps = measure(clip, work, args.runs, encode)
            print(f"{size}: {frames} frames; ffmpeg CLI {cli_fps:7.1f} fps, facepipe passthrough {our_fps:7.1f} fps, "
                  f"ratio {our_fps / cli_fps:.3f}")
            rows.append((size, frames, f"{cli_fps:.1f}", f"{our_fps:.1f}", f"{our_fps / cli_fps:.3f}"))
    source = (f"`{Path(args.clip).name}` (scaled to each other size with lanczos, crf 16)" if args.clip else
              f"generated, {args.seconds:g} s (testsrc2 + noise, a sine tone: hard to encode)")
    what = (f"Clip: {source}; ffmpeg {ffmpeg_version()}; x264 preset={encode.preset} crf={encode.crf}; median of "
            f"{args.runs} interleaved runs; facepipe = the whole `convert --passthrough` command (start-up, probe, "
            f"decode, encode).")
    print(what)
    publish(args, run, what + "\n\n" + table(["size", "frames", "ffmpeg CLI fps", "facepipe --passthrough fps",
                                                "ratio to ffmpeg"], rows))


if __name__ == "__main__":
    main()
