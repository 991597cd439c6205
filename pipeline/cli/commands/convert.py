"""``facepipe convert IN -o OUT``: a video, a photo or a folder of them through the configured stages.

One file: audio and timing kept (video), EXIF orientation and colour profile kept (photo). A folder
(``convert DIR -o OUTDIR``): every video and photo in it, the relative paths kept, done files skipped,
run on the job engine (``pipeline.jobs``: serial here, a local process pool, or Dask).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.settings import add_face_option, face_overrides
from pipeline.media.atomic import write_json
from pipeline.cli.trim import add_trim_options, trim_overrides
from pipeline.errors import FacepipeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert a video, a photo or a folder through the face pipeline",
                                   description="Decode a video (or read a photo), run the configured stages on every "
                                               "frame, encode it again with the source's audio and timestamps. A folder "
                                               "in gives a folder out, with the same relative paths.")
    parser.add_argument("input", metavar="IN",
                        help="input video, photo, or folder of them (e.g. samples/sample.mp4, the bundled sample)")
    parser.add_argument("-o", "--output", required=True,
                        help="output video (.mp4, .mov, .mkv, .webm, ...), photo (.jpg, .png, .webp) or folder")
    parser.add_argument("--passthrough", action="store_true", help="run no face stages (a plain transcode)")
    parser.add_argument("--stats", metavar="JSON", help="write per-stage timings and counts to this file")
    parser.add_argument("--overwrite", "-y", action="store_true",
                        help="replace the output file if it exists (folders: convert files already done again)")
    parser.add_argument("--preview", choices=("side-by-side",), help="write input | output next to each other")
    parser.add_argument("--write-masks", metavar="DIR", help="write each frame's blend mask as a PNG into DIR")
    add_face_option(parser)
    add_trim_options(parser)
    folder = parser.add_argument_group("folders (convert DIR -o OUTDIR)")
    folder.add_argument("--recursive", "-r", action="store_true", help="also convert the files in sub-folders")
    folder.add_argument("--workers", type=int, default=1, metavar="N",
                        help="files converted at once: 1 = one after another in this process (default; each "
                             "conversion already uses every core), N > 1 = a local process pool, 0 = one per core")
    folder.add_argument("--scheduler", metavar="URL", help="run the files on this Dask cluster (tcp://HOST:8786)")
    add_config_options(parser)
    parser.set_defaults(func=main, extra_hint="convert takes one input: a video, a photo, or a folder of them")


def convert_overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.set) + trim_overrides(args) + (["pipeline.stages=[]"] if args.passthrough else [])
    overrides += face_overrides(args.face)
    if args.write_masks:
        overrides.append(f"blend.masks_dir={json.dumps(str(args.write_masks))}")
    return overrides


def main(args: argparse.Namespace) -> int:
    from pipeline.cli.video_job import check_side_dir, check_side_file

    source = Path(args.input)
    # every side output is checked before any work: a bad --stats path found after the photo is written
    # would leave a half-done run behind
    check_side_file(args.stats, "--stats", args.output, args.input)
    check_side_dir(args.write_masks, "--write-masks")
    if source.is_dir():
        from pipeline.cli.folder_job import convert_folder
        from pipeline.cli.settings import load_config, prepare_face_bank

        prepare_face_bank(load_config(args.config, convert_overrides(args)), args.quiet)  # once, not per file
        return convert_folder(args, convert_overrides(args))
    return convert_one(args, str(source))


def convert_one(args: argparse.Namespace, source: str) -> int:
    from pipeline.cli.progress import console, warn
    from pipeline.cli.settings import load_config, prepare_face_bank
    from pipeline.cli.video_job import run_video_file
    from pipeline.media.encode import check_output_path
    from pipeline.media.kinds import PHOTO_OUTPUTS, is_image
    from stages.summaries import DetectSummary, SwapSummary

    config = load_config(args.config, convert_overrides(args))
    output = check_output_path(args.output, [source], args.overwrite, extra_suffixes=PHOTO_OUTPUTS)
    if output.suffix.lower() in PHOTO_OUTPUTS and args.preview:
        raise FacepipeError("--preview side-by-side writes a video; give a video output")
    if is_image(source) and (args.start or args.end or args.fps):
        warn("--start, --end and --fps do nothing for a photo; ignored")
    stage_names = list(config.pipeline.stages)
    prepare_face_bank(config, args.quiet)
    stats, _ = run_video_file(source, output, config, label="convert", quiet=args.quiet, preview=bool(args.preview),
                              trim=(args.start, args.end))
    detect, swap = stats.summary("detect", DetectSummary), stats.summary("swap", SwapSummary)
    faces_seen = detect.faces if detect else 0
    if "detect" in stage_names and not faces_seen:
        warn(f"no face found in {source}; it was converted unchanged")
    if "swap" in stage_names and faces_seen and not (swap and swap.faces_swapped):
        warn(f"faces were found in {source} but none was chosen by swap.select = "
             f"{config.section('swap').select!r}; it was converted unchanged")
    if args.stats:
        write_json(args.stats, {"input": source, "output": str(output), **stats.as_dict()})
    if not args.quiet:
        console.print(f"wrote {output}: {stats.frames_out} frames in {stats.wall_seconds:.1f} s ({stats.fps:.1f} fps)")
    return 0
