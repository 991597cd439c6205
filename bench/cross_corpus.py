"""A detector on several corpora: the cross-corpus table of `facepipe detector eval DET CORPUS CORPUS ...`.

Usage: python bench/cross_corpus.py DET_DIR CORPUS_DIR [CORPUS_DIR ...] [--split all] [--frames 32] [--threads 2]
                                    [--json FILE] [--markdown docs/benchmarks.md [--section cross-corpus]]

The same evaluation as the CLI (``pipeline.detection.evaluate.plan_corpora`` and ``evaluate_corpora``): per
corpus a block of rows (overall, by compression, method and perturbation) with frame AUC, video AUC, frame
EER and frame accuracy; each row says the split scored (``test``, or ``all`` with ``--split all``) and
whether the corpus is the detector's own training corpus ("same corpus", scored on its test split only)
or another ("cross-corpus"), and how many of its people the detector saw in training. With two or more
cross-corpus corpora a last row gives their unweighted mean (DeepfakeBench's "Avg."). With ``--markdown``
the table goes into that page's section (bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.detection.evaluate import CROSS_HEADER, CrossCorpusReport  # noqa: E402


def rows(report: CrossCorpusReport) -> list[tuple[str, ...]]:
    """The table's rows (CROSS_HEADER's columns): a block per corpus, then the cross-corpus mean."""
    return report.cells()


def body(report: CrossCorpusReport, split: str) -> str:
    """The section's markdown: what was scored, then the one table."""
    trained = f"`{Path(report.trained_on).name}`" if report.trained_on else "a corpus its card does not name"
    scored = ("each corpus's test split" if split == "test" else
              "every video of each corpus but the training corpus, which is scored on its test split")
    return (f"Detector `{report.detector}` ({report.architecture}), trained on {trained}; {scored}; "
            f"{report.frames_per_video} frames per video, threshold {report.threshold}. \"same corpus\": in-corpus "
            "(people of the training corpus the detector never saw); \"cross-corpus\": another corpus.\n\n"
            + table(CROSS_HEADER, rows(report)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("detector", metavar="DET_DIR")
    parser.add_argument("corpora", metavar="CORPUS_DIR", nargs="+")
    parser.add_argument("--split", choices=("test", "all"), default="test",
                        help="test split (default) or every video (the training corpus: always its test split)")
    parser.add_argument("--frames", type=int, help="frames sampled per video (default detector.eval_frames)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", metavar="DIR", help="face-crop cache (default CORPUS_DIR/cache/detector)")
    parser.add_argument("--json", metavar="FILE", help="also write the whole report (every corpus's figures)")
    add_options(parser, "cross-corpus")
    args = parser.parse_args()
    run = begin_run(args)

    import torch

    from models.detectors.checkpoint import open_detector
    from pipeline.cli.settings import load_config
    from pipeline.detection.evaluate import evaluate_corpora, plan_corpora
    from pipeline.errors import FacepipeError

    torch.set_num_threads(args.threads)
    config = load_config(None, ["pipeline.stages=[]"] + ([f"detector.eval_frames={args.frames}"] if args.frames else []))
    try:
        detector = open_detector(args.detector)
        plans = plan_corpora([Path(c) for c in args.corpora], args.split, detector.card.record)  # all checked first
        report = evaluate_corpora(detector, Path(args.detector), plans, config,
                                  lambda corpus: Path(args.cache) if args.cache else corpus / "cache" / "detector")
    except FacepipeError as error:
        raise SystemExit(f"bench/cross_corpus.py: {error}") from None
    text = body(report, args.split)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    publish(args, run, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
