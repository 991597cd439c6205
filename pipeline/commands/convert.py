"""``facepipe convert IN -o OUT``: one video through the configured stages, audio and timing kept."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from pipeline.commands.common import add_config_options, write_json_atomic
from pipeline.compose import build_stages
from pipeline.config import load_config
from pipeline.errors import FacepipeError
from pipeline.io import Sink
from pipeline.preview import KeepOriginal, SideBySideSink
from pipeline.stage import StageContext
from pipeline.progress import console, frame_progress, warn
from pipeline.runner import Runner
from stages.decode import FileSource
from stages.encode import FileSink, check_output_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert a video through the face pipeline",
                                   description="Decode a video, run the configured stages on every frame, encode it "
                                               "again with the source's audio and timestamps.")
    parser.add_argument("input", help="input video file")
    parser.add_argument("-o", "--output", required=True, help="output video file (.mp4, .mov, .mkv, .webm, ...)")
    parser.add_argument("--passthrough", action="store_true", help="run no face stages (a plain transcode)")
    parser.add_argument("--stats", metavar="JSON", help="write per-stage timings and counts to this file")
    parser.add_argument("--overwrite", "-y", action="store_true", help="replace the output file if it exists")
    parser.add_argument("--preview", choices=("side-by-side",), help="write input | output next to each other")
    parser.add_argument("--write-masks", metavar="DIR", help="write each frame's blend mask as a PNG into DIR")
    add_config_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    overrides = list(args.set) + (["pipeline.stages=[]"] if args.passthrough else [])
    if args.write_masks:
        overrides.append(f"blend.masks_dir={json.dumps(str(args.write_masks))}")
    config = load_config(args.config, overrides)
    output = check_output_path(args.output, [args.input], args.overwrite)
    source = FileSource(args.input, config.decode)
    info = source.open()
    stage_names = list(config.pipeline.stages)
    start, limit = config.decode.start, config.decode.max_frames
    video = info
    if start or limit:
        video = _trimmed(info, start, limit)
    stages, contexts = build_stages(config, stage_names, video, warn)
    sink: Sink = FileSink(output, config.encode, audio_source=args.input, audio_start=start,
                    audio_duration=(video.timestamps[-1] - video.timestamps[0] + 1.0 / video.fps)
                    if (limit and video.timestamps) else 0.0)
    if args.preview:
        stages.insert(0, KeepOriginal(None))
        contexts.insert(0, StageContext(video=video, config=None))
        sink = SideBySideSink(sink)
    with frame_progress(f"convert {Path(args.input).name}", video.frame_count, args.quiet) as progress:
        runner = Runner(source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                        on_frame=progress.update)
        stats = runner.run()
    for message in source.warnings:
        warn(message)
    faces_seen = stats.extra.get("stages", {}).get("detect", {}).get("faces")
    if "detect" in stage_names and not faces_seen:
        warn(f"no face found in {args.input}; the video was converted unchanged")
    if args.stats:
        write_json_atomic(args.stats, {"input": args.input, "output": str(output), **stats.as_dict()})
    if not args.quiet:
        console.print(f"wrote {output}: {stats.frames_out} frames in {stats.wall_seconds:.1f} s ({stats.fps:.1f} fps)")
    return 0


def _trimmed(info, start: float, limit: int):
    """The VideoInfo the encoder should see when only part of the source is converted."""
    times = info.timestamps or []
    first = next((number for number, t in enumerate(times) if t >= start - 1e-6), len(times))
    kept = times[first:first + limit] if limit else times[first:]
    if times and not kept:
        raise FacepipeError(f"decode.start = {start} is past the end of {info.path} ({info.duration:.2f} s)")
    shifted = [t - kept[0] for t in kept] if kept else None
    count = len(kept) if kept else info.frame_count
    return dataclasses.replace(info, timestamps=shifted, frame_count=count)
