"""Speed of the deepfake detectors: classifier faces/s, and `facepipe detector score` end to end.

Usage: python bench/detector.py [--threads 2] [--batch 64] [--clip PATH] [--detector DET_DIR]
                                [--markdown docs/benchmarks.md [--section detector]]

Classifier: aligned 256x256 crops -> P(fake), the work `detector score` adds per face (median of 5
runs at ``--batch``; torch at ``--threads``). End to end: `detector score` on a clip (decode, detect,
landmarks, align, classify), in frames/s, next to the ffmpeg-only transcode of the same clip.
With --markdown the same figures go into that page's section as tables (bench/report.py).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from models.detectors import DETECTORS  # noqa: E402
from models.detectors.checkpoint import Detector, build  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def classifier_rate(architecture: str, batch: int, threads: int) -> tuple[float, float]:
    """(faces/s by the wall clock, faces/s if the process had its ``threads`` cores to itself: from CPU time)."""
    detector = Detector(build(architecture).eval())
    crops = np.random.default_rng(0).integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)
    detector.fake_probability(crops, batch)
    walls, cpus = [], []
    for _ in range(5):
        start, cpu = time.perf_counter(), time.process_time()
        detector.fake_probability(crops, batch)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return batch / statistics.median(walls), batch / (statistics.median(cpus) / threads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--clip", default=str(REPO.parent / "shared" / "media" / "single_face.mp4"))
    parser.add_argument("--detector", help="detector folder for the end-to-end run (default: the bundled one)")
    add_options(parser, "detector")
    args = parser.parse_args()
    run = begin_run(args)
    if not Path(args.clip).is_file():
        raise SystemExit(f"bench/detector.py: clip not found: {args.clip}")
    torch.set_num_threads(args.threads)
    print(f"classifier on 256x256 crops, torch threads {args.threads}, batch {args.batch}:")
    print(f"  (load average {os.getloadavg()[0]:.1f}; 'CPU-time' = batch / (CPU seconds / threads): the rate on "
          f"{args.threads} cores of its own)")
    rates, rows = {}, []
    for name in DETECTORS:
        wall, cpu = classifier_rate(name, args.batch, args.threads)
        rates[name] = wall
        rows.append((name, f"{wall:.1f}", f"{cpu:.1f}"))
        print(f"  {name:15s} {wall:7.1f} faces/s wall clock, {cpu:7.1f} faces/s by CPU time")
    body = (f"Classifier on 256x256 crops, torch threads {args.threads}, batch {args.batch}, median of 5 runs "
            f"('by CPU time' = the rate on {args.threads} cores of its own):\n\n"
            + table(["network", "faces/s wall clock", "faces/s by CPU time"], rows))
    print(f"meso4 scoring throughput: {rates['meso4']:.1f} faces/s wall clock on {args.threads} threads "
          f"(target >= 100; load average {os.getloadavg()[0]:.1f} at the end)")
    frames = int(subprocess.run([sys.executable, "-c", f"from pipeline.media.decode import probe; print(probe({args.clip!r}).frame_count)"],
                                capture_output=True, text=True, cwd=REPO).stdout.strip() or 0)
    start = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", args.clip, "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-"],
                   check=True)
    transcode = time.perf_counter() - start
    command = [sys.executable, "-m", "pipeline.cli.main", "detector", "score", args.clip, "-q",
               "--set", f"detector.threads={args.threads}"] + (["--detector", args.detector] if args.detector else [])
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    score = time.perf_counter() - start
    if result.returncode:
        print(result.stderr.strip())
        return 1
    print(f"detector score {Path(args.clip).name} ({frames} frames): {score:.2f} s = {frames / score:.1f} frames/s "
          f"(process start included); ffmpeg-only transcode {transcode:.2f} s = {frames / transcode:.1f} frames/s; "
          f"ratio {score / transcode:.1f}x")
    print(f"  {result.stdout.strip()}")
    found = re.search(r"(\d+) faces in (\d+) frames", result.stdout)
    faces_per_s = steady = "-"
    if found:
        faces_per_s = f"{int(found.group(1)) / score:.1f}"
        print(f"detector score end to end: {faces_per_s} faces/s wall clock (decode, detect, landmarks, "
              f"align, classify; {args.threads} threads; load average {os.getloadavg()[0]:.1f})")
        # the fixed start (Python, torch import, model loads) measured on 2 frames and taken off: the rate a
        # long video or a batch of clips in one process sees
        start = time.perf_counter()
        subprocess.run(command + ["--set", "decode.max_frames=2"], capture_output=True, text=True, cwd=REPO, check=True)
        startup = time.perf_counter() - start
        if score > startup:
            steady = f"{(int(found.group(1)) - 2) / (score - startup):.1f}"
            print(f"  without the start-up ({startup:.2f} s on 2 frames): {steady} faces/s")
    body += (f"\n`facepipe detector score` end to end on `{Path(args.clip).name}` ({frames} frames; decode, detect, landmarks, "
             "align, classify; process start included) next to the ffmpeg-only transcode of the same clip:\n\n"
             + table(["run", "seconds", "frames/s", "faces/s", "faces/s without the start-up"],
                     [("detector score", f"{score:.2f}", f"{frames / score:.1f}", faces_per_s, steady),
                      ("ffmpeg-only transcode", f"{transcode:.2f}", f"{frames / transcode:.1f}", "-", "-")])
             + "\nWithout the start-up: the same command on the clip's first 2 frames (Python, the torch import and "
               "the model loads) timed and taken off, which is the rate a long video sees.\n")
    publish(args, run, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
