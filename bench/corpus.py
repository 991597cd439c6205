"""Corpus build throughput: output videos per minute and frames per second per worker, 1 vs 2 workers,
against the ffmpeg-only transcode of the same inputs; and the fixed cost of starting each engine.

Usage: python bench/corpus.py [--videos 4] [--frames 60] [--engine dask|local] [--engines-only]
                              [--markdown docs/benchmarks.md [--section corpus]]
The inputs are the first --videos clips of ../shared/media/people (one person each), trimmed to
--frames frames. Faces are extracted once beforehand (the cache a corpus keeps), so the timed builds
measure the per-video jobs: the real videos' re-encode and the warp fakes (swap + blend + the fake and
its mask video), all at c23. The ffmpeg-only baseline re-encodes the same trimmed inputs with the same
x264 settings (CRF 23, same preset), audio copied as the corpus copies it, one process per worker.
With --markdown the same tables go into that page's section (bench/report.py).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.corpus.build import BuildOptions, build_corpus  # noqa: E402
from pipeline.jobs import open_engine, run_jobs  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402

PEOPLE = REPO.parent / "shared" / "media" / "people"


def settings(frames: int) -> list[str]:
    return ['corpus.methods=["warp"]', 'corpus.compressions=["c23"]', "corpus.perturb=[]", f"corpus.max_frames={frames}",
            "corpus.fold_splits=true"]  # a few videos: fold the small splits rather than refuse


def build(inputs: Path, out: Path, frames: int, workers: int, engine: str) -> tuple[float, float, int, int]:
    """(wall seconds, engine start seconds, output videos, frames written) of one build."""
    config = load_config(None, settings(frames))
    started = time.perf_counter()
    result = build_corpus(BuildOptions(str(inputs), str(out), workers=workers, engine=engine, warn=lambda m: None), config)
    wall = time.perf_counter() - started
    videos = len(result.lines) + sum(1 for line in result.lines if line.get("mask"))
    written = sum(int(line["frames"]) for line in result.lines) + sum(int(l["frames"]) for l in result.lines if l.get("mask"))
    return wall, result.engine_seconds, videos, written


def seed_cache(warm: Path, out: Path) -> None:
    """A fresh corpus folder holding only the warm one's face cache and plan."""
    (out / ".facepipe" / "records").mkdir(parents=True)
    shutil.copytree(warm / ".facepipe" / "faces", out / ".facepipe" / "faces")
    shutil.copy(warm / ".facepipe" / "plan.json", out / ".facepipe" / "plan.json")
    for record in (warm / ".facepipe" / "records").glob("faces-*.json"):
        shutil.copy(record, out / ".facepipe" / "records" / record.name)


def ffmpeg_baseline(inputs: list[Path], work: Path, frames: int, workers: int, preset: str) -> float:
    def one(clip: Path) -> None:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-frames:v", str(frames), "-c:a", "copy", "-c:v", "libx264",
                        "-crf", "23", "-preset", preset, "-pix_fmt", "yuv420p", "-threads", "1",
                        str(work / f"{clip.stem}.{workers}.mp4")], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, inputs))
    return time.perf_counter() - started


def noop(n: int) -> int:
    return n


def engine_start(name: str, workers: int) -> float:
    """Open the engine and run one no-op job per worker: the fixed cost a build pays before real work
    (the process pool spawns its workers lazily, in its first batch, so a bare open would show 0)."""
    started = time.perf_counter()
    engine = open_engine(workers, name=name)
    run_jobs(noop, [(str(n), n) for n in range(workers)], engine)
    opened = time.perf_counter() - started
    engine.close()
    return opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--engine", default="dask", choices=("dask", "local"))
    parser.add_argument("--engines-only", action="store_true", help="only the engine start-up figures")
    add_options(parser, "corpus")
    args = parser.parse_args()
    run = begin_run(args)
    if args.engines_only:
        return publish(args, run, engine_starts_markdown(print_engine_starts()))
    clips = sorted(p for p in PEOPLE.glob("*.mp4") if "crowd" not in p.name)[: args.videos]
    if not clips:
        raise SystemExit(f"bench/corpus.py: no clips in {PEOPLE}")
    preset = load_config().corpus.preset
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="facepipe-bench-corpus-") as tmp:
        work = Path(tmp)
        inputs = work / "real"
        inputs.mkdir()
        for clip in clips:
            (inputs / clip.name).symlink_to(clip)
        build(inputs, work / "warm", args.frames, 2, "local")  # extracts the faces once
        what = f"{len(clips)} clips x {args.frames} frames ({', '.join(c.stem for c in clips)}); warp fakes, c23"
        print(f"inputs: {what}")
        print(f"{'run':<34}{'wall s':>8}{'videos':>8}{'videos/min':>12}{'fps/worker':>12}")
        for workers in (1, 2):
            name = args.engine if workers > 1 else "serial"
            out = work / f"run{workers}"
            seed_cache(work / "warm", out)
            wall, _, videos, frames = build(inputs, out, args.frames, workers, name)
            row = (f"facepipe corpus, {workers} worker(s) ({name})", wall, videos, videos / wall * 60, frames / wall / workers)
            print(f"{row[0]:<34}{row[1]:8.1f}{row[2]:8d}{row[3]:12.1f}{row[4]:12.1f}")
            rows.append((row[0], f"{row[1]:.1f}", str(row[2]), f"{row[3]:.1f}", f"{row[4]:.1f}"))
            base = ffmpeg_baseline(clips, work, args.frames, workers, preset)
            count = len(clips)
            row = (f"ffmpeg-only transcode, {workers} process(es)", base, count, count / base * 60,
                   count * args.frames / base / workers)
            print(f"{row[0]:<34}{row[1]:8.1f}{row[2]:8d}{row[3]:12.1f}{row[4]:12.1f}")
            rows.append((row[0], f"{row[1]:.1f}", str(row[2]), f"{row[3]:.1f}", f"{row[4]:.1f}"))
    starts = print_engine_starts()
    body = (f"Inputs: {what} (`../shared/media/people`); faces extracted once beforehand, so the builds time the "
            "per-video jobs.\n\n" + table(["run", "wall s", "videos", "videos/min", "fps/worker"], rows) + "\n"
            + engine_starts_markdown(starts))
    publish(args, run, body)


def print_engine_starts() -> list[tuple[str, int, str]]:
    """Print and return (engine, workers, seconds or why it is unavailable) for each engine."""
    print("engine start-up: open + one no-op job per worker (close excluded), seconds:")
    rows = []
    for name, workers in (("serial", 1), ("local", 2), ("dask", 2)):
        try:
            figure = f"{engine_start(name, workers):.2f}"
        except Exception as exc:  # noqa: BLE001 - dask not installed
            figure = f"unavailable ({exc})"
        print(f"  {name:<7}{workers} workers: {figure}")
        rows.append((name, workers, figure))
    return rows


def engine_starts_markdown(rows: list[tuple[str, int, str]]) -> str:
    """The engine start-up table as markdown."""
    return ("Engine start-up (open + one no-op job per worker, close excluded):\n\n"
            + table(["engine", "workers", "seconds"], rows))


if __name__ == "__main__":
    main()
