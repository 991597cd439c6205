"""``facepipe attack VIDEO -o OUT``: search occlusions that make a fake-face classifier call faces real.

Runs decode -> detect -> landmarks -> align -> (swap -> blend with ``--swap``) -> occlude in attack
mode -> encode, then writes a JSON report: success rate, fake scores before and after, queries and
occluded area. It always prints one line of counts (faces seen, already judged real, fooled, not
fooled within the budget), and says so when the classifier calls every face real already. The ``[occlude]`` table configures the occluder, the classifier and the budget; with
``--swap`` and ``occlude.classifier = "discriminator"`` the discriminator is the swap model's, for the
identity it paints. The default classifier is the bundled deepfake detector.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli.commands.common import add_config_options
from pipeline.cli.settings import add_face_option, face_overrides, load_config, prepare_face_bank
from pipeline.errors import FacepipeError
from pipeline.cli.progress import console, warn
from pipeline.cli.video_job import run_video_file
from pipeline.media.atomic import write_json
from pipeline.media.encode import check_output_path
from stages import FACE_STAGES

if TYPE_CHECKING:
    from stages.occlusion.report import OccludeSummary

SWAP_STAGES = ["swap", "blend"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attack", help="occlusion attack: occlude faces until a fake detector calls them real",
        description="Detect and align faces (optionally swap them), then search, per face, occluder placements "
                    "that push the classifier's fake probability below occlude.threshold within occlude.budget "
                    "queries. Writes the occluded video and a JSON report.")
    parser.add_argument("input", help="input video file")
    parser.add_argument("-o", "--output", required=True, help="output video file (.mp4, .mov, .mkv, .webm, ...)")
    parser.add_argument("--report", metavar="JSON", help="write the attack summary (success rate, scores, queries) here")
    parser.add_argument("--sidecar", metavar="JSONL", help="write one line per frame and face (occluder, scores) here")
    parser.add_argument("--write-masks", metavar="DIR", help="write each frame's occluder mask as a PNG into DIR")
    parser.add_argument("--swap", action="store_true", help="swap faces first (swap + blend stages), then attack")
    parser.add_argument("--overwrite", "-y", action="store_true", help="replace the output file if it exists")
    add_face_option(parser, help="with --swap: paint this person in (a video, a folder of photos or videos of them, "
                                 "or a bank file; sets swap.method = 'bank' and swap.face); default: the bundled bank")
    add_config_options(parser)
    parser.set_defaults(func=main)


def attack_overrides(args: argparse.Namespace) -> list[str]:
    """The user's ``--set`` first, then what this command fixes (its stages, attack mode, output paths)."""
    stages = [*FACE_STAGES, *(SWAP_STAGES if args.swap else []), "occlude"]
    overrides = list(args.set) + [f"pipeline.stages={json.dumps(stages)}", 'occlude.mode="attack"']
    overrides += face_overrides(args.face)
    if args.sidecar:
        overrides.append(f"occlude.report={json.dumps(str(args.sidecar))}")
    if args.write_masks:
        overrides.append(f"occlude.masks_dir={json.dumps(str(args.write_masks))}")
    return overrides


def _check_report_path(path: str | None, output: Path) -> None:
    if not path:
        return
    report = Path(path)
    if report.resolve() == output.resolve():
        raise FacepipeError(f"report {report} is the output video; choose another path")
    if report.is_dir():
        raise FacepipeError(f"report {report} is a folder; give a file name")
    if not report.resolve().parent.is_dir():
        raise FacepipeError(f"report folder does not exist: {report.resolve().parent}")


def main(args: argparse.Namespace) -> int:
    from stages.occlusion.report import OccludeSummary

    if args.face and not args.swap:
        raise FacepipeError("--face paints a person in, which only a swap does: add --swap")
    overrides = attack_overrides(args)
    config = load_config(args.config, overrides)
    from stages.swap import painting_method

    if args.swap and painting_method(config.swap) == "bank" and config.occlude.classifier == "discriminator":
        raise FacepipeError("occlude.classifier = 'discriminator' attacks the swap model's discriminator, and "
                            "swap.method = 'bank' has no model: use occlude.classifier = 'detector' (or a pair "
                            "model: --set swap.model=...)")
    if args.swap:  # attack the discriminator of the identity the swap paints, from the same model file
        extra = []
        if config.occlude.identity == "auto":
            extra.append(f"occlude.identity={json.dumps(config.swap.direction[-1])}")
        if not config.occlude.model:
            extra.append(f"occlude.model={json.dumps(config.swap.model)}")
        config = load_config(args.config, overrides + extra)
    output = check_output_path(args.output, [args.input], args.overwrite)
    _check_report_path(args.report, output)
    _check_report_path(args.sidecar, output)
    prepare_face_bank(config, args.quiet)
    stats, stages = run_video_file(args.input, output, config, label="attack", quiet=args.quiet)
    occluder = next((stage for stage in stages if stage.name == "occlude"), None)
    summary = stats.summary("occlude", OccludeSummary)
    classifier = getattr(getattr(occluder, "classifier", None), "name", config.occlude.classifier)
    if args.report:
        occlude = dataclasses.asdict(config.occlude)
        write_json(args.report, {"input": args.input, "output": str(output), "sidecar": args.sidecar,
                                        "masks_dir": args.write_masks, "swap": bool(args.swap), "occlude": occlude,
                                        "classifier": classifier, "attack": summary.as_dict() if summary else {},
                                        "stats": stats.as_dict()})
    # Always said, even with --quiet: what the attack did, in counts (on stdout, for scripts too).
    print(counts_line(summary, classifier, config.occlude.budget, config.occlude.threshold))
    figures = summary.attack if summary else None
    if summary is None or not summary.faces:
        warn(f"no face found in {args.input}; nothing was attacked")
    elif figures is not None and figures.scored and figures.already_real == figures.scored:
        warn(f"{classifier} already calls every face real (P(fake) < {config.occlude.threshold}); the attack had nothing "
             "to do (attack fake faces, e.g. with --swap, use a classifier that detects these faces, or raise occlude.threshold)")
    if not args.quiet:
        console.print(describe(summary, output, stats.frames_out, stats.wall_seconds))
    return 0


def counts_line(summary: OccludeSummary | None, classifier: str, budget: int, threshold: float) -> str:
    """faces seen, already judged real, fooled, not fooled within the budget: one line."""
    faces = summary.faces if summary else 0
    skipped = summary.skipped if summary else 0
    figures = summary.attack if summary else None
    real = figures.already_real if figures else 0
    fooled = figures.fooled if figures else 0
    attacked = figures.attacked if figures else 0
    line = (f"attack summary: {faces} faces seen, {real} already judged real, {fooled} fooled, "
            f"{attacked - fooled} not fooled within {budget} queries")
    if skipped:
        line += f", {skipped} skipped (no alignment)"
    return line + f" (classifier {classifier}, threshold {threshold})"


def describe(summary: OccludeSummary | None, output: Path, frames: int, seconds: float) -> str:
    """One line a person reads after the run."""
    line = f"wrote {output}: {frames} frames in {seconds:.1f} s"
    figures = summary.attack if summary else None
    if summary is not None and figures is not None and figures.attacked:
        line += (f"; fooled {figures.fooled}/{figures.attacked} faces ({figures.success_rate:.0%}), "
                 f"P(fake) {figures.mean_fake_before:.3f} -> {figures.mean_fake_after:.3f}, "
                 f"{figures.queries_mean:.1f} queries and {summary.mean_area:.1%} of the face box per face")
    return line
