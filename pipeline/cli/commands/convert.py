"""``facepipe convert IN -o OUT``: one video through the configured stages, audio and timing kept."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.cli.commands.common import add_config_options, write_json_atomic
from pipeline.cli.settings import load_config
from pipeline.cli.progress import console, warn
from pipeline.cli.video_job import run_video_file
from pipeline.media.encode import check_output_path

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.mp4"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert a video through the face pipeline",
                                   description="Decode a video, run the configured stages on every frame, encode it "
                                               "again with the source's audio and timestamps.")
    parser.add_argument("input", nargs="?", default=str(SAMPLE),
                        help="input video file (default: the bundled sample, samples/sample.mp4)")
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
    stage_names = list(config.pipeline.stages)
    stats, _ = run_video_file(args.input, output, config, label="convert", quiet=args.quiet, preview=bool(args.preview))
    faces_seen = stats.extra.get("stages", {}).get("detect", {}).get("faces")
    if "detect" in stage_names and not faces_seen:
        warn(f"no face found in {args.input}; the video was converted unchanged")
    if args.stats:
        write_json_atomic(args.stats, {"input": args.input, "output": str(output), **stats.as_dict()})
    if not args.quiet:
        console.print(f"wrote {output}: {stats.frames_out} frames in {stats.wall_seconds:.1f} s ({stats.fps:.1f} fps)")
    return 0

