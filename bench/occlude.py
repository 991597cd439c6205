"""Cost of the occlusion stage: ms per face for each occluder kind, and ms per query in attack mode.

Usage: python bench/occlude.py [--repeats 20] [--budget 32] [--model DIR] [--threads 2]
                               [--markdown docs/benchmarks.md [--section occlude]]

Faces come from the real face stages on the shared test photos (one face, then five). Random mode is
timed per face over ``--repeats`` seeds (median). Attack mode runs with threshold 0, so every face
spends exactly ``--budget`` queries, against a small TorchScript classifier (the tests' fixed conv
net) and, when one is found (``--model``, else the bundled model), the swap model's discriminator;
the classifier's own cost per crop is shown beside it, so search overhead = per query - classifier.
With --markdown the same figures go into that page's section as tables (bench/report.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.report import add_options, begin_run, publish, table  # noqa: E402
from pipeline.frame import Frame, copy_frame  # noqa: E402
from pipeline.stage import StageContext  # noqa: E402
from stages.occlude import OccludeConfig, OccludeStage  # noqa: E402
from pipeline.detection.crops import find_faces  # noqa: E402

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"

CASES = [("block", "face", ""), ("noise", "face", ""), ("patch", "face", "multi_face.jpg"),
         ("object", "eyes", ""), ("object", "lower", "occluders/mask_blue.jpg"), ("patch", "mouth", "multi_face.jpg")]


def stage_for(**settings) -> OccludeStage:
    stage = OccludeStage(OccludeConfig(**settings))
    stage.open(StageContext(video=None, config=stage.config, warn=lambda message: None))
    return stage


def time_random(frames: list[Frame], kind: str, anchor: str, image: str, repeats: int) -> float:
    """Median over seeds of ms per face."""
    per_face = []
    for seed in range(repeats):
        stage = stage_for(kind=kind, anchor=anchor, image=str(MEDIA / image) if image else "", level=3, seed=seed)
        faces, seconds = 0, 0.0
        for frame in frames:
            work = copy_frame(frame)
            started = time.perf_counter()
            for number, face in enumerate(work.faces):
                stage.occlude_face(work, face, number)
            seconds += time.perf_counter() - started
            faces += len(work.faces)
        per_face.append(1000.0 * seconds / faces)
    return statistics.median(per_face)


def time_attack(frames: list[Frame], classifier: str, budget: int, **extra) -> tuple[float, float]:
    """(ms per query of the whole search, ms per crop of the classifier alone)."""
    stage = stage_for(mode="attack", kind="patch", image=str(MEDIA / "multi_face.jpg"), level=3, budget=budget,
                      batch=16, threshold=0.0, classifier=classifier, **extra)
    queries, seconds = 0, 0.0
    crops = []
    for frame in frames:
        work = copy_frame(frame)
        started = time.perf_counter()
        records = [stage.occlude_face(work, face, number) for number, face in enumerate(work.faces)]
        seconds += time.perf_counter() - started
        queries += sum(r["queries"] for r in records)
        crops.extend(face.crop for face in work.faces)
    batch = np.stack((crops * 16)[:16])
    stage.classifier.fake_probability(batch)  # warm-up
    started = time.perf_counter()
    for _ in range(5):
        stage.classifier.fake_probability(batch)
    per_crop = 1000.0 * (time.perf_counter() - started) / (5 * len(batch))
    return 1000.0 * seconds / queries, per_crop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="seeds per random-mode case (default 20)")
    parser.add_argument("--budget", type=int, default=32, help="queries per face in attack mode (default 32)")
    parser.add_argument("--model", default="", help="swap model for the discriminator (default: the bundled one)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    add_options(parser, "occlude")
    args = parser.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"bench/occlude.py: media not found: {MEDIA}")
    run = begin_run(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = [find_faces(cv2.imread(str(MEDIA / name)), index)
              for index, name in enumerate(["single_face.jpg", "multi_face.jpg"])]
    sizes = [f"{int(face.width)}x{int(face.height)}" for frame in frames for face in frame.faces]
    print(f"faces: {len(sizes)} ({', '.join(sizes)} px boxes); torch threads {torch.get_num_threads()}")
    print("\nrandom mode, level 3            ms/face (median of seeds)")
    random_rows = []
    for kind, anchor, image in CASES:
        ms = time_random(frames, kind, anchor, image, args.repeats)
        random_rows.append((kind, anchor, Path(image).name if image else "-", f"{ms:.2f}"))
        print(f"  {kind:7s} {anchor:6s}              {ms:8.2f}")
    body = (f"Faces from the real face stages on `single_face.jpg` and `multi_face.jpg` ({len(sizes)} faces); torch threads "
            f"{torch.get_num_threads()}. Random mode, level 3, median over {args.repeats} seeds:\n\n"
            + table(["kind", "anchor", "image", "ms per face"], random_rows))

    print(f"\nattack mode (patch, level 3, {args.budget} queries/face)   ms/query   classifier ms/crop")
    model = args.model
    if not model:
        from models.checkpoint import BUNDLED_MODEL_DIR, WEIGHTS

        model = str(BUNDLED_MODEL_DIR) if (BUNDLED_MODEL_DIR / WEIGHTS).is_file() else ""
    if model:
        per_query, per_crop = time_attack(frames, "discriminator", args.budget, model=model, identity="b")
        print(f"  {'discriminator (' + Path(model).name + ')':40s}  {per_query:8.2f}   {per_crop:8.2f}")
        body += (f"\nAttack mode (patch, level 3, {args.budget} queries per face; search overhead = per query - classifier):\n\n"
                 + table(["classifier", "ms per query", "classifier ms per crop"],
                         [(f"discriminator ({Path(model).name})", f"{per_query:.2f}", f"{per_crop:.2f}")]))
    else:
        print("  discriminator: no bundled model yet; pass --model DIR")
    publish(args, run, body)


if __name__ == "__main__":
    main()
