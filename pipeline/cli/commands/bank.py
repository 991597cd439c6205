"""``facepipe bank VIDEO_OR_FOLDER -o FILE.npz``: one person's face bank, built once, to paint in with ``--face``.

Why a file: ``--face VIDEO`` already caches the bank it builds, but the cache is per machine and keyed by
the video's bytes. A bank file travels: it holds the aligned faces, their landmarks and descriptors
(crops as JPEG), so another machine paints the same person without the footage or the half-minute
build. The bundled bank (``models/bundled_bank``) was written by this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.commands.common import add_config_options
from pipeline.errors import FacepipeError

JPEG_QUALITY = 95  # the crops are cut from lossy video already; 95 keeps the skin grain a swap needs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bank", help="build one person's face bank file, to paint them in with --face FILE.npz",
        description="Find the faces of one person in a video, a folder of videos or a folder of photos, and write "
                    "them as a bank file that `convert`, `live` and `attack --swap` paint in with --face FILE.npz. "
                    "swap.bank_every and swap.bank_faces (--set) choose how many frames are used.")
    parser.add_argument("face", metavar="VIDEO_OR_FOLDER", help="a video, or a folder of videos or photos, of one person")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="the bank file to write")
    parser.add_argument("--overwrite", "-y", action="store_true", help="replace the bank file if it exists")
    add_config_options(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import json

    from pipeline.cli.progress import frame_progress
    from pipeline.cli.settings import load_config
    from pipeline.media.encode import check_file_destination
    from stages.faces.bank import BANK_SUFFIX, bank_identity, is_bank_file, save_bank
    from stages.swap import open_face_bank

    output = Path(args.output)
    if output.suffix.lower() != BANK_SUFFIX:
        raise FacepipeError(f"output {output}: a bank file ends in {BANK_SUFFIX}")
    if is_bank_file(args.face):
        raise FacepipeError(f"{args.face} is a bank file already; give the video or folder it should be built from")
    check_file_destination(output, "output")
    if output.exists() and not args.overwrite:
        raise FacepipeError(f"output {output} exists; pass --overwrite to replace it")
    overrides = [*args.set, 'swap.method="bank"', f"swap.face={json.dumps(str(Path(args.face).expanduser().absolute()))}"]
    swap = load_config(args.config, overrides).section("swap")
    bank = open_face_bank(swap, progress=lambda label, total: frame_progress(label, total, args.quiet))
    bank.source = Path(args.face).name  # the file names the user gave, not this machine's paths
    bank.identity = bank_identity(bank)
    save_bank(bank, output, jpeg_quality=JPEG_QUALITY)
    print(f"wrote {output}: {len(bank)} faces of {Path(args.face).name} ({output.stat().st_size / 1e6:.1f} MB)")
    return 0
