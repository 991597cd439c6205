"""``facepipe extract VIDEO_OR_DIR... -o FACESET``: aligned, masked face crops for training.

Runs detect -> landmarks -> align -> strip (configured by their tables) on each video, or on the
photos of a folder, and writes the faceset described in ``pipeline.media.faceset``. Each video is its own
run (tracks and filters start afresh); a folder's videos are taken one by one and its photos
together as one source.

Keeping work: the faceset records, per source, the settings it was extracted with and how far it got.
Ctrl-C (or a crash) keeps every face written, with a valid alignments.json; the same command run
again skips the sources already done and resumes the interrupted one at its next frame.
``--by-identity`` adds dlib's identity embedding to each face and splits the faces into one faceset
per person (``pipeline.cli.identity_split``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.trim import add_trim_options, trim_overrides
from pipeline.errors import Cancelled, FacepipeError, Stopped
from pipeline.media.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from stages import FACESET_STAGES

if TYPE_CHECKING:
    from pipeline.media.faceset import FacesetWriter

# Everything else is imported by main(), not here: `facepipe --help` should not load OpenCV and numpy.


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract", help="extract aligned face crops (a faceset) from videos or photos",
        description="Detect, landmark, align and mask every face and write FACESET/faces/*.png (BGRA, alpha = "
                    "mask) and FACESET/alignments.json, the faceset that `facepipe train` reads. Ctrl-C keeps the "
                    "faces written so far; running the same command again resumes where it stopped and skips "
                    "sources already done.")
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="video files, photos, or folders of them")
    parser.add_argument("-o", "--output", required=True, metavar="FACESET_DIR", help="faceset directory (created)")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="use every Nth frame of a video (default 1)")
    add_trim_options(parser, "sample each video")
    parser.add_argument("--min-face", type=int, metavar="PX", help="ignore faces smaller than this (overrides detect.min_face)")
    parser.add_argument("--by-identity", action="store_true",
                        help="split the faces into one faceset per person (FACESET_DIR/person-01, ...; the pooled "
                             "set goes to FACESET_DIR/all), by dlib's face-recognition embedding")
    parser.add_argument("--identity-distance", type=float, default=0.45, metavar="D",
                        help="with --by-identity: faces of one person lie within this average embedding distance "
                             "(default 0.45; dlib calls 0.6 the same person, but that merges people here)")
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


def _settings(config, args: argparse.Namespace, kind: str) -> dict:
    """What a source's faces depend on: a re-run with the same settings skips or resumes it."""
    settings = {name: dataclasses.asdict(config.section(name)) for name in FACESET_STAGES}
    settings["identity"] = bool(args.by_identity)
    if kind == "video":
        decode = dataclasses.asdict(config.decode)
        decode.pop("threads", None)
        settings.update(every=args.every, decode=decode, start=args.start and args.start.text,
                        end=args.end and args.end.text)
    else:
        settings["size"] = config.decode.size
    return settings


def main(args: argparse.Namespace) -> int:
    from pipeline.cli.settings import load_config
    from stages.faces.geometry import TEMPLATE_NAME

    if args.every < 1:
        raise FacepipeError(f"--every {args.every}: must be 1 or more")
    if args.identity_distance <= 0:
        raise FacepipeError(f"--identity-distance {args.identity_distance}: must be above 0")
    overrides = list(args.set) + trim_overrides(args)
    if args.min_face is not None:
        overrides.append(f"detect.min_face={args.min_face}")
    config = load_config(args.config, overrides)
    jobs = collect_jobs(args.inputs)
    align = {"size": config.align.size, "coverage": config.align.coverage, "template": TEMPLATE_NAME}
    from pipeline.cli.video_job import check_side_dir, check_side_file

    out_dir = check_side_dir(args.output, "-o") or Path(args.output)  # an existing file: refused before any work
    check_side_dir(args.debug, "--debug")
    check_side_file(args.stats, "--stats", args.output)
    faceset_dir = out_dir / "all" if args.by_identity else out_dir
    from pipeline.media.atomic import remove_stale_temporaries
    from pipeline.media.lock import FolderLock

    lock = FolderLock(out_dir, "extract").acquire()  # a second run at once would overwrite this one's rows
    try:
        for folder in (faceset_dir, faceset_dir / "faces"):
            remove_stale_temporaries(folder)  # a kill -9'd run's half-written files
        return _extract_all(args, config, jobs, align, out_dir, faceset_dir)
    finally:
        lock.release()


def _extract_all(args: argparse.Namespace, config, jobs: list[tuple[str, list[Path]]], align: dict,
                 out_dir: Path, faceset_dir: Path) -> int:
    """Every source into the faceset, with the folder locked by :func:`main`."""
    from pipeline.cli.progress import warn
    from pipeline.media.atomic import write_json
    from pipeline.media.faceset import FacesetWriter

    writer = FacesetWriter(faceset_dir, align, args.debug)
    timings: list[dict] = []
    skipped: list[str] = []
    try:
        for kind, paths in jobs:
            timing = _extract_one(kind, paths, config, args, writer, skipped)
            if timing:
                timings.append(timing)
    except (KeyboardInterrupt, Cancelled) as exc:
        # SIGTERM/SIGHUP keep their own exit status (128 + signal), as every other command does
        signum = exc.signum if isinstance(exc, Stopped) else None
        how = f"stopped by {signal.Signals(signum).name}" if signum else "interrupted"
        raise Cancelled(f"{how}; the {len(writer.faces)} faces written so far are kept in {faceset_dir} "
                        f"(run the same command again to resume)", exit_code=128 + signum if signum else None) from None
    if skipped and not args.quiet:
        warn(f"{len(skipped)} source(s) already extracted with these settings, skipped: "
             f"{', '.join(Path(s).name for s in skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    people = None
    if args.by_identity and writer.faces:
        from pipeline.cli.identity_split import split_by_identity

        people = split_by_identity(out_dir, args.identity_distance)
    if args.stats:
        write_json(args.stats, {"output": args.output, "sources": [vars(s) for s in writer.summaries],
                                       "skipped": skipped, "runs": timings, "people": people})
    if not args.quiet and writer.summaries:
        _print_summary(writer, str(faceset_dir))
        if people is not None:
            _print_people(people, out_dir)
    if not any(s.faces for s in writer.summaries) and not skipped:
        warn("no faces found; check the input, or lower detect.threshold / --min-face")
    return 0


def _extract_one(kind: str, paths: list[Path], config, args: argparse.Namespace, writer: FacesetWriter,
                 skipped: list[str]) -> dict | None:
    """One video (or one group of photos) into the faceset; None when it was already done."""
    from pipeline.cli.progress import frame_progress, warn
    from pipeline.cli.trim import apply_trim
    from pipeline.compose import build_stages
    from pipeline.media.images import EveryNth, ImageSource
    from pipeline.runner import Runner
    from stages import STAGES

    settings = _settings(config, args, kind)
    if kind == "images":
        todo = [p for p in paths if writer.plan(str(p), settings) is not None]
        skipped.extend(str(p) for p in paths if p not in todo)
        if not todo:
            return None
        from pipeline.media.shape import parse_size

        name = str(todo[0].parent) if len({p.parent for p in todo}) == 1 else "photos"
        size = parse_size(config.decode.size) if config.decode.size else None
        source, label = ImageSource(todo, name, size=size), f"{len(todo)} photos in {name}"
        info = source.open()
        total = info.frame_count
    else:
        from pipeline.media.decode import FileSource

        first = writer.plan(str(paths[0]), settings)
        if first is None:
            skipped.append(str(paths[0]))
            return None
        video = FileSource(paths[0], config.decode)
        info = video.open()
        video.config = apply_trim(video.config, info, args.start, args.end)
        source, label = EveryNth(video, args.every, first), paths[0].name
        count = video.config.max_frames or info.frame_count
        total = math.ceil(count / args.every) if count else None
        if first:
            warn(f"{label}: resuming at frame {first}")
    sink = writer
    if args.by_identity:
        from pipeline.cli.identity_split import EmbeddingSink

        sink = EmbeddingSink(writer)
    stages, contexts = build_stages(config, STAGES, list(FACESET_STAGES), info, warn)
    with frame_progress(f"extract {label}", total, args.quiet) as progress:
        runner = Runner(source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                        on_frame=progress.update)
        stats = runner.run()
    for message in getattr(source, "warnings", []):
        warn(message)
    return {"source": label, **stats.as_dict()}


def _print_people(people: list[dict], out_dir: Path) -> None:
    from rich.table import Table

    from pipeline.cli.progress import console

    table = Table(title=f"people in {out_dir}", title_justify="left")
    for column in ("faceset", "faces", "sources"):
        table.add_column(column, justify="right" if column == "faces" else "left")
    for row in people:
        shown = ", ".join(row["sources"][:3]) + (f" +{len(row['sources']) - 3}" if len(row["sources"]) > 3 else "")
        table.add_row(str(out_dir / row["set"]), str(row["faces"]), shown)
    console.print(table)


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
