"""``facepipe extract VIDEO_OR_DIR... -o FACESET``: aligned, masked face crops for training.

Runs detect -> landmarks -> align -> strip (configured by their tables) on each video, or on the
photos of a folder, and writes the faceset described in ``pipeline.media.faceset``. Each video is its own
run (tracks and filters start afresh); a folder's videos are taken one by one and its photos
together as one source.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from typing import TYPE_CHECKING

from pipeline.cli.commands.common import add_config_options
from pipeline.errors import FacepipeError

if TYPE_CHECKING:
    from pipeline.media.faceset import FacesetWriter

from pipeline.media.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES

# Everything else is imported by main(), not here: `facepipe --help` should not load OpenCV and numpy.

EXTRACT_STAGES = ["detect", "landmarks", "align", "strip"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract", help="extract aligned face crops (a faceset) from videos or photos",
        description="Detect, landmark, align and mask every face and write FACESET/faces/*.png (BGRA, alpha = "
                    "mask) and FACESET/alignments.json, the faceset that `facepipe train` reads.")
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="video files, photos, or folders of them")
    parser.add_argument("-o", "--output", required=True, metavar="FACESET_DIR", help="faceset directory (created)")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="use every Nth frame of a video (default 1)")
    parser.add_argument("--min-face", type=int, metavar="PX", help="ignore faces smaller than this (overrides detect.min_face)")
    parser.add_argument("--debug", metavar="DIR", help="also write every frame with boxes and landmarks drawn to DIR")
    parser.add_argument("--stats", metavar="JSON", help="write per-source counts and per-stage timings to this file")
    add_config_options(parser)
    parser.set_defaults(func=main)


def collect_jobs(inputs: list[str]) -> list[tuple[str, list[Path]]]:
    """(kind, paths) per source: ("video", [file]) or ("images", [photos of one folder or argument])."""
    jobs: list[tuple[str, list[Path]]] = []
    loose: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.is_file())
            videos = [p for p in entries if p.suffix.lower() in VIDEO_SUFFIXES]
            images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
            if not videos and not images:
                raise FacepipeError(f"{path}: no videos or images in this folder")
            jobs.extend(("video", [v]) for v in videos)
            if images:
                jobs.append(("images", images))
        elif path.is_file():
            if path.suffix.lower() in IMAGE_SUFFIXES:
                loose.append(path)
            else:
                jobs.append(("video", [path]))
        else:
            raise FacepipeError(f"input not found: {path}")
    if loose:
        jobs.append(("images", loose))
    return jobs


def main(args: argparse.Namespace) -> int:
    from pipeline.cli.commands.common import write_json_atomic
    from pipeline.compose import build_stages
    from stages import STAGES
    from pipeline.cli.settings import load_config
    from pipeline.media.faceset import FacesetWriter
    from stages.faces.geometry import TEMPLATE_NAME
    from pipeline.cli.progress import frame_progress, warn
    from pipeline.runner import Runner

    if args.every < 1:
        raise FacepipeError(f"--every {args.every}: must be 1 or more")
    overrides = list(args.set)
    if args.min_face is not None:
        overrides.append(f"detect.min_face={args.min_face}")
    config = load_config(args.config, overrides)
    jobs = collect_jobs(args.inputs)
    align = {"size": config.align.size, "coverage": config.align.coverage, "template": TEMPLATE_NAME}
    writer = FacesetWriter(args.output, align, args.debug)
    timings: list[dict] = []
    for kind, paths in jobs:
        source, label = _source(kind, paths, config, args.every)
        info = source.open()
        stages, contexts = build_stages(config, STAGES, EXTRACT_STAGES, info, warn)
        total = math.ceil(info.frame_count / args.every) if (kind == "video" and info.frame_count) else info.frame_count
        with frame_progress(f"extract {label}", total, args.quiet) as progress:
            runner = Runner(source, stages, writer, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                            on_frame=progress.update)
            stats = runner.run()
        for message in getattr(source, "warnings", []):
            warn(message)
        timings.append({"source": label, **stats.as_dict()})
    if args.stats:
        write_json_atomic(args.stats, {"output": args.output,
                                       "sources": [vars(s) for s in writer.summaries], "runs": timings})
    if not args.quiet:
        _print_summary(writer, args.output)
    if not any(s.faces for s in writer.summaries):
        warn("no faces found; check the input, or lower detect.threshold / --min-face")
    return 0


def _source(kind: str, paths: list[Path], config, every: int):
    from pipeline.media.images import EveryNth, ImageSource

    if kind == "images":
        name = str(paths[0].parent) if len({p.parent for p in paths}) == 1 else "photos"
        return ImageSource(paths, name), f"{len(paths)} photos in {name}"
    from pipeline.media.decode import FileSource

    source = FileSource(paths[0], config.decode)
    return (EveryNth(source, every) if every > 1 else source), paths[0].name


def _print_summary(writer: FacesetWriter, output: str) -> None:
    from rich.table import Table

    from pipeline.cli.progress import console

    table = Table(title=f"faceset {output}", title_justify="left")
    for column in ("source", "frames", "faces", "frames without a face"):
        table.add_column(column, justify="left" if column == "source" else "right")
    totals = [0, 0, 0]
    for s in writer.summaries:
        table.add_row(Path(s.source).name or s.source, str(s.frames), str(s.faces), str(s.frames_without_face))
        totals = [totals[0] + s.frames, totals[1] + s.faces, totals[2] + s.frames_without_face]
    if len(writer.summaries) > 1:
        table.add_row("total", *(str(t) for t in totals), style="bold")
    console.print(table)
