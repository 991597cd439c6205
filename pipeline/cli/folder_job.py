"""``facepipe convert DIR -o OUTDIR``: every video and photo of a folder, one job each, on the job engine.

Why jobs: a folder of a thousand clips should go to a Dask cluster as easily as to this machine, and
one broken file must not stop the others. Each job re-reads the configuration from the same file and
``--set`` list (a worker on another machine has no access to this process), converts one file
through :func:`pipeline.cli.video_job.run_video_file` and writes it atomically, so a killed run leaves
only whole outputs and a re-run skips them (unless ``--overwrite``). Failures are listed at the end and
the exit status is 1.

Outputs keep the input's relative path. A video keeps its container when facepipe can write it (else
``.mp4``); a photo keeps its format when OpenCV can write it (else ``.png``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli.trim import Position
from pipeline.errors import Cancelled, FacepipeError
from pipeline.media.kinds import PHOTO_OUTPUTS, is_image, is_video

VIDEO_OUTPUTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts"}


@dataclass(frozen=True)
class FileJob:
    """What one worker needs to convert one file (plain values: it travels to other processes)."""

    input: str
    output: str
    config_file: str | None
    overrides: tuple[str, ...]
    start: Position | None = None
    end: Position | None = None


@dataclass(frozen=True)
class FileResult:
    """What one converted file reports back for the progress line and the ``--stats`` JSON."""

    frames: int
    faces: int | None  # None: no detect stage ran
    faces_swapped: int | None  # None: no swap stage ran
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "faces": self.faces, "faces_swapped": self.faces_swapped,
                "seconds": self.seconds}


def find_media(folder: Path, recursive: bool, skip: Path | None = None) -> list[Path]:
    """Videos and photos under ``folder`` in name order; hidden files and ``skip`` (the output) left out."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    found = []
    for path in pattern:
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if is_video(path) or is_image(path):
            found.append(path)
    return sorted(found)


def output_for(source: Path, folder: Path, out_dir: Path) -> Path:
    relative = source.relative_to(folder)
    suffix = source.suffix.lower()
    if is_image(source):
        suffix = suffix if suffix in PHOTO_OUTPUTS else ".png"
    else:
        suffix = suffix if suffix in VIDEO_OUTPUTS else ".mp4"
    return out_dir / relative.with_suffix(suffix)


def convert_file_job(job: FileJob) -> FileResult:
    """One file (runs in a worker): returns frames, faces and seconds for the summary."""
    from pipeline.cli.settings import load_config
    from pipeline.cli.video_job import run_video_file
    from stages.summaries import DetectSummary, SwapSummary

    config = load_config(job.config_file, list(job.overrides))
    output = Path(job.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        stats, _ = run_video_file(job.input, output, config, label="convert", quiet=True, trim=(job.start, job.end))
    except Cancelled:
        raise KeyboardInterrupt from None  # Ctrl-C stops the batch, not just this file
    detect, swap = stats.summary("detect", DetectSummary), stats.summary("swap", SwapSummary)
    return FileResult(stats.frames_out, detect.faces if detect else None, swap.faces_swapped if swap else None,
                      round(stats.wall_seconds, 2))


def convert_folder(args: argparse.Namespace, overrides: list[str]) -> int:
    from pipeline.media.atomic import write_json
    from pipeline.cli.progress import console, warn
    from pipeline.cli.settings import load_config
    from pipeline.jobs import open_engine, run_jobs

    folder, out_dir = Path(args.input), Path(args.output)
    if out_dir.suffix.lower() in VIDEO_OUTPUTS | PHOTO_OUTPUTS and not out_dir.is_dir():
        raise FacepipeError(f"input {folder} is a folder, so the output must be a folder too, not {out_dir}")
    if out_dir.exists() and not out_dir.is_dir():
        raise FacepipeError(f"output {out_dir} is a file; a folder input needs an output folder")
    if out_dir.resolve() == folder.resolve():
        raise FacepipeError(f"output folder {out_dir} is the input folder; choose another")
    if args.preview or args.write_masks:
        raise FacepipeError("--preview and --write-masks take one file, not a folder")
    if args.workers < 0:
        raise FacepipeError(f"--workers {args.workers}: must be 0 (one per core) or more")
    load_config(args.config, overrides)  # a bad setting fails once, here, not in every job
    files = find_media(folder, args.recursive, skip=out_dir.resolve() if out_dir.exists() else out_dir.absolute())
    if not files:
        raise FacepipeError(f"{folder}: no videos or photos{'' if args.recursive else ' (add --recursive for sub-folders)'}")
    jobs, skipped = [], []
    config_file = str(Path(args.config).resolve()) if args.config else None
    for source in files:
        target = output_for(source, folder, out_dir)
        if target.exists() and not args.overwrite:
            skipped.append(str(source.relative_to(folder)))
            continue
        job = FileJob(str(source.resolve()), str(target.resolve()), config_file, tuple(overrides), args.start, args.end)
        jobs.append((str(source.relative_to(folder)), job))
    if skipped and not args.quiet:
        console.print(f"{len(skipped)} of {len(files)} files already converted in {out_dir}; skipped "
                      f"(--overwrite converts them again)")
    started = time.perf_counter()
    done = [0]

    def on_done(result) -> None:
        done[0] += 1
        if args.quiet:
            return
        if result.ok:
            value: FileResult = result.value
            console.print(f"[{done[0]}/{len(jobs)}] {result.key}: {value.frames} frames, "
                          f"{value.faces or 0} faces, {result.seconds:.1f} s", highlight=False)
        else:
            console.print(f"[{done[0]}/{len(jobs)}] {result.key}: failed: {result.error}", highlight=False)

    engine = open_engine(args.workers, args.scheduler) if jobs else None
    try:
        results = run_jobs(convert_file_job, jobs, engine, on_done) if engine else []
    finally:
        if engine is not None:
            engine.close()
    failed = [r for r in results if not r.ok]
    if args.stats:
        write_json(args.stats, {"input": str(folder), "output": str(out_dir), "skipped": skipped,
                                       "files": [{"file": r.key, "ok": r.ok, "error": r.error, "seconds": round(r.seconds, 2),
                                                  **(r.value.as_dict() if r.ok else {})} for r in results]})
    converted = len(results) - len(failed)
    if not args.quiet:
        console.print(f"converted {converted}, skipped {len(skipped)}, failed {len(failed)} "
                      f"in {time.perf_counter() - started:.1f} s -> {out_dir}")
    if failed:
        for result in failed:
            warn(f"failed: {result.key}: {result.error}")
        raise FacepipeError(f"{len(failed)} of {len(files)} files failed (listed above); the others are in {out_dir}",
                            exit_code=1)
    return 0
