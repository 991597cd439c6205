"""The occlusion attack against a deepfake detector, and the hardened detector, on a corpus's test split.

Usage: python bench/attack.py CORPUS_DIR DET_DIR [--hardened DET_DIR] [--compression c23] [--frames 4]
       [--budgets 16,64,256] [--levels 1,2,3,4,5] [--kinds block,noise,object] [--attack-kinds block,noise]
       [--attack-level 3] [--threads 2] [--json FILE] [--markdown PAGE [--section attack]]

Prints one table per detector: clean frame AUC; AUC with a random occluder of each kind and level
over every face; and under the attack on the fakes (occlusion stage, attack mode, the detector's
TorchScript export as ``occlude.classifier``) at each budget, with the success rate (fooled / faces
the detector called fake), mean queries and mean occluded share of the face box. Faces are the test
split's clean real and fake videos at ``--compression`` (identity-disjoint from training). With
``--markdown`` the tables go into that page's section (bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from bench.report import add_options, begin_run, publish  # noqa: E402
from models.detectors.checkpoint import open_detector  # noqa: E402
from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.detection.attack_eval import attack_table  # noqa: E402
from pipeline.detection.corpus import CLEAN, read_corpus  # noqa: E402
from pipeline.detection.data import gather  # noqa: E402


def fmt(v: object, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{float(v):.0%}" if pct else f"{float(v):.3f}" if isinstance(v, float) else str(v)


def markdown(name: str, t: dict) -> str:
    lines = [f"**{name}** ({t['faces']} faces, {t['fake_faces']} fake; attack occluders at level {t['attack_level']})", "",
             "| row | AUC | success | mean queries | occluded share of face box |", "|---|---|---|---|---|",
             f"| clean | {fmt(t['clean_auc'])} | | | |"]
    for r in t["random"]:
        lines.append(f"| random {r['kind']} L{r['level']} | {fmt(r['auc'])} | | | {fmt(r['area'], True)} |")
    for r in t["attack"]:
        lines.append(f"| attack {r['kind']}, budget {r['budget']} | {fmt(r['auc'])} | {fmt(r['success'], True)} ({r['fooled']}/{r['attacked']}) "
                     f"| {fmt(r['queries'])} | {fmt(r['area'], True)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("detector")
    parser.add_argument("--hardened", help="detector trained with --occlusion-augment")
    parser.add_argument("--compression", default="c23")
    parser.add_argument("--frames", type=int, default=4, help="faces per test video")
    parser.add_argument("--budgets", default="16,64,256")
    parser.add_argument("--levels", default="1,2,3,4,5")
    parser.add_argument("--kinds", default="block,noise,object")
    parser.add_argument("--attack-kinds", default="block,noise", help="occluder kinds the attack searches with")
    parser.add_argument("--attack-level", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    add_options(parser, "attack")
    args = parser.parse_args()
    run = begin_run(args)
    torch.set_num_threads(args.threads)
    config = load_config(None, ["pipeline.stages=[]"])
    videos = [v for v in read_corpus(args.corpus) if v.split == "test" and v.compression == args.compression
              and v.perturbation == CLEAN]
    crops = gather(videos, config, args.frames, 7, Path(args.corpus) / "cache" / "detector")
    results, text = {}, ""
    for name, folder in [("detector", args.detector)] + ([("hardened", args.hardened)] if args.hardened else []):
        detector = open_detector(folder)
        table = attack_table(str(Path(folder)), detector.fake_probability, crops, [int(b) for b in args.budgets.split(",")],
                             args.kinds.split(","), [int(x) for x in args.levels.split(",")], args.attack_kinds.split(","),
                             args.attack_level, log=lambda m: print(m, file=sys.stderr))
        results[name] = {"path": str(folder), "architecture": detector.architecture, **table}
        text += markdown(f"{name} ({detector.architecture}, {folder})", table) + "\n"
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    publish(args, run, f"Corpus `{args.corpus}`, test split, {args.compression}, {args.frames} faces per video.\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
