"""Does a detector cry wolf on people it never saw, and does it catch facepipe's default swap of them?

Usage: python bench/detector_heldout.py [--detector DET_DIR] [--work DIR] [--write-card]
                                        [--markdown docs/benchmarks.md [--section detector-heldout]]

Reals: the held-out clips (``lp_d18``, ``single_face.mp4``, ``retalking_face2``, ``retalking_face5``,
the crowd clip), which no bundled model or detector trains on, and the photos of ``shared/media``
(people in no corpus). Fakes: ``facepipe convert`` of each with the defaults (made once into
``--work``), except ``single_face``: the bundled bank's person is its man, so its swap paints him
onto himself. Each input is scored by ``detector score``'s own path; a video's P(fake) is its frames'
mean, a frame's its most suspicious face's.

Printed: per input, P(fake) and verdict of the real and of its swap; the share of reals scored at or
above the threshold; video AUC of reals against swaps. ``--write-card`` stores the same figures in the
detector's card (``calibration.held_out``), which is where the issue asks its calibration be stated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.report import add_options, begin_run, publish, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
HELD_OUT = ["people/lp_d18_man_grey_hoodie_expressions.mp4", "single_face.mp4",
            "people/retalking_face2_man_map_bg_talk.mp4", "people/retalking_face5_older_woman_glasses_talk.mp4",
            "people/facenet_crowd_multiface.mp4", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
            "45-m7-di-ph.jpg", "single_face.jpg", "multi_face.jpg"]
NO_SWAP = {"single_face.mp4", "single_face.jpg"}  # the bundled bank's own person
CLIPS = {Path(c).name for c in HELD_OUT[:4]}  # the four: its targets are stated on these


@dataclass(frozen=True)
class Scored:
    name: str
    label: int  # 1 = facepipe's default swap
    p_fake: float | None
    verdict: str
    uncertain: str | None


def swap_of(source: Path, work: Path) -> Path:
    """The default `facepipe convert` of ``source``, made once."""
    out = work / f"swap_{source.stem}{'.png' if source.suffix.lower() in ('.jpg', '.png') else '.mp4'}"
    if not out.is_file():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pipeline.cli.main", "convert", str(source), "-o", str(out), "-q"],
                       check=True, cwd=REPO)
    return out


def score(path: Path, detector: object, config: object, label: int, name: str) -> Scored:
    from pipeline.detection.score import score_video

    result = score_video(str(path), detector, config, None, lambda message: None)
    return Scored(name, label, result.p_fake, result.verdict, result.uncertain)


def summary(scored: list[Scored], threshold: float) -> dict[str, object]:
    from pipeline.detection.metrics import figures

    reals = [s for s in scored if s.label == 0 and s.p_fake is not None]
    usable = [s for s in scored if s.p_fake is not None]
    figs = figures([s.label for s in usable], [s.p_fake for s in usable], threshold)
    return {"reals": len(reals), "reals_at_or_above_threshold": sum(s.p_fake >= threshold for s in reals),
            "reals_uncertain": sum(s.verdict == "uncertain" for s in reals),
            "swaps": sum(s.label for s in usable), "swaps_at_or_above_threshold":
            sum(s.p_fake >= threshold for s in usable if s.label), "video_auc": figs["auc"], "threshold": threshold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detector", help="detector folder (default: the bundled one)")
    parser.add_argument("--work", default="/tmp/facepipe-heldout", help="where the swaps are made (kept, reused)")
    parser.add_argument("--write-card", action="store_true", help="store the figures in the detector's card")
    add_options(parser, "detector-heldout")
    args = parser.parse_args()
    run = begin_run(args)
    from models.detectors.checkpoint import BUNDLED_DETECTOR_DIR, CARD, open_detector

    detector_dir = Path(args.detector) if args.detector else BUNDLED_DETECTOR_DIR
    detector = open_detector(detector_dir)
    from pipeline.cli.settings import load_config

    config = load_config(None, ["pipeline.stages=[]"])  # `detector score`'s configuration
    threshold = float(detector.card.record.get("calibration", {}).get("threshold", 0.5))
    work = Path(args.work)
    scored: list[Scored] = []
    for relative in HELD_OUT:
        source = MEDIA / relative
        if not source.is_file():
            print(f"skipped (not found): {source}")
            continue
        scored.append(score(source, detector, config, 0, source.name))
        if source.name not in NO_SWAP:
            scored.append(score(swap_of(source, work), detector, config, 1, source.name))
        for s in scored[-2:] if source.name not in NO_SWAP else scored[-1:]:
            p = "no face" if s.p_fake is None else f"{s.p_fake:.3f}"
            print(f"{s.name:50s} {'swap' if s.label else 'real':4s} P(fake) {p:>7s} {s.verdict}")
    groups = {"the four held-out clips": summary([s for s in scored if s.name in CLIPS], threshold),
              "every held-out input (clips, crowd, photos)": summary(scored, threshold)}
    for what, figs in groups.items():
        print(f"{what}: reals called fake {figs['reals_at_or_above_threshold']} of {figs['reals']} "
              f"(uncertain: {figs['reals_uncertain']}); swaps called fake {figs['swaps_at_or_above_threshold']} "
              f"of {figs['swaps']}; video AUC {figs['video_auc']}")
    figures = groups["every held-out input (clips, crowd, photos)"]
    if args.write_card:
        card_path = detector_dir / CARD
        card = json.loads(card_path.read_text())
        card.setdefault("calibration", {})["held_out"] = {
            "clips": groups["the four held-out clips"], "all": figures, "inputs": [asdict(s) for s in scored],
            "what": "reals: held-out clips and photos of people in no training set; swaps: their default convert"}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"wrote calibration.held_out into {card_path}")
    rows = [(s.name, "swap" if s.label else "real", "no face" if s.p_fake is None else f"{s.p_fake:.3f}", s.verdict)
            for s in scored]
    body = (f"Detector `{detector.card.record.get('name') or detector_dir.name}` ({detector.architecture}).\n\n"
            + table(["input", "kind", "P(fake)", "verdict"], rows) + "\n"
            + table(["inputs", "reals called fake", "reals uncertain", "swaps called fake", "video AUC reals vs swaps"],
                    [(what, f"{f['reals_at_or_above_threshold']} of {f['reals']}", f["reals_uncertain"],
                      f"{f['swaps_at_or_above_threshold']} of {f['swaps']}", f["video_auc"]) for what, f in groups.items()]))
    publish(args, run, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
