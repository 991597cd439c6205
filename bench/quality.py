"""How real a swap looks, in numbers: identity, expression, sharpness, occluders, flicker, colour.

Usage: python bench/quality.py [--frames 60] [--clips sample,b2a,face2,face5,crowd] [--set KEY=VALUE ...]
                               [--markdown docs/benchmarks.md [--section quality]]

Each clip runs through the default `convert` stages in-process (the same Runner, an in-memory sink),
then every swapped face is measured against its input frame:

- id->target / id->source: dlib 128-D embedding distance of the output face to the target identity's
  mean embedding (B: the first 72 frames of people/lp_d6_woman_scrunchie_funnyfaces_first30s.mp4;
  A: WolfgangLanger frames 250+, not in the sample) and to the
  same frame's input face; "won" = share of faces nearer the target than the source AND within 0.6;
- mouth r / eye r: Pearson correlation over frames of the mouth opening (inner-lip gap) and eye
  opening (eye aspect ratio), input vs output landmarks (dlib 68 points re-fitted on the output);
- sharp: variance of the Laplacian inside the inner face, output over input (sum over frames);
- occl: on frames with a hand label in tests/data/hands/, share of labelled occluder pixels whose
  value stays within 12 levels; "swapped" = share of the other inner-face pixels that changed by more;
- flicker: the blend stage's frame-to-frame change in the face box, output over input;
- dL/da/db: mean |difference| of the mean CIE Lab of the inner face, output vs input;
- psnr-out: PSNR outside the face (hull grown by one inter-ocular distance) vs the input (= a
  passthrough before encoding); inf means untouched.
Identity and landmark re-fits run on every ``--identity-every``-th frame to keep the run in minutes.
With --markdown the table goes into that page's section (bench/report.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import add_options, begin_run, publish  # noqa: E402
from pipeline.cli.settings import load_config  # noqa: E402
from pipeline.frame import Face, Frame  # noqa: E402
from pipeline.cli.video_job import run_in_memory  # noqa: E402
from pipeline.runner import RunStats  # noqa: E402
from stages.faces import measures  # noqa: E402
from stages.faces.geometry import inter_ocular  # noqa: E402
from stages.faces.identity import SAME_PERSON, face_embedding, identity_distance, mean_embedding  # noqa: E402
from stages.faces.landmarkers import LANDMARKERS  # noqa: E402
from stages.landmarks import LandmarksConfig  # noqa: E402
from stages.summaries import BlendSummary  # noqa: E402

MEDIA = Path("/work/shared/media")
for candidate in (REPO.parent / "shared" / "media", REPO / ".." / "shared" / "media"):
    if candidate.is_dir():
        MEDIA = candidate
        break
HANDS = REPO / "tests" / "data" / "hands"


@dataclass
class Clip:
    key: str
    path: Path
    direction: str = "a2b"
    labels: Path | None = None


CLIPS = {
    "sample": Clip("sample", REPO / "samples" / "sample.mp4", "a2b", HANDS),
    "b2a": Clip("b2a", MEDIA / "single_face.mp4", "b2a"),  # a man no bundled model was trained on, painted as A
    "face2": Clip("face2", MEDIA / "people" / "retalking_face2_man_map_bg_talk.mp4"),
    "face5": Clip("face5", MEDIA / "people" / "retalking_face5_older_woman_glasses_talk.mp4"),
    "crowd": Clip("crowd", MEDIA / "people" / "facenet_crowd_multiface.mp4"),
}
REFERENCES = {"b": (MEDIA / "people" / "lp_d6_woman_scrunchie_funnyfaces_first30s.mp4", 0.0, 4), "a": (MEDIA / "WolfgangLanger_Pexels.mp4", 10.5, 6)}


def run_clip(path: Path, overrides: list[str], frames: int, stages: list[str] | None = None,
             start: float = 0.0) -> tuple[list[Frame], RunStats]:
    """Frames (with ``meta['original']``) after the configured stages, and the run's stats."""
    config = load_config(overrides=[*overrides, f"decode.max_frames={frames}", f"decode.start={start}"])
    return run_in_memory(path, config, stages)


def reference(identity: str) -> np.ndarray:
    """Mean embedding of one identity from frames the swap never converts."""
    path, start, every = REFERENCES[identity]
    frames, _ = run_clip(path, [], 72, ["detect", "landmarks"], start)
    embeddings = [face_embedding(f.image, f.faces[0].landmarks) for f in frames[::every] if f.faces]
    return mean_embedding(embeddings)


@dataclass
class Result:
    id_target: list[float] = field(default_factory=list)
    id_source: list[float] = field(default_factory=list)
    won: list[bool] = field(default_factory=list)
    mouth: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    eyes: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    sharp_in: float = 0.0
    sharp_out: float = 0.0
    lab: list[np.ndarray] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    occl_kept: list[float] = field(default_factory=list)
    occl_swapped: list[float] = field(default_factory=list)
    flicker: float = float("nan")
    faces: int = 0
    seconds: float = 0.0


def pooled_correlation(series: dict[int, list[tuple[float, float]]]) -> float:
    """Per-track correlations (tracks with >= 8 samples), averaged weighted by length."""
    values, weights = [], []
    for pairs in series.values():
        if len(pairs) >= 8:
            r = measures.correlation([p[0] for p in pairs], [p[1] for p in pairs])
            if not math.isnan(r):
                values.append(r)
                weights.append(len(pairs))
    return float(np.average(values, weights=weights)) if values else float("nan")


def measure(clip: Clip, overrides: list[str], frames: int, every: int, target: np.ndarray) -> Result:
    started = time.perf_counter()
    processed, stats = run_clip(clip.path, [*overrides, f"swap.direction={clip.direction}"], frames)
    result = Result(seconds=time.perf_counter() - started)
    blend = stats.summary("blend", BlendSummary)
    result.flicker = (blend.flicker_ratio if blend else None) or float("nan")
    landmarker = LANDMARKERS.load("dlib").from_config(LandmarksConfig(), "cpu")
    for frame in processed:
        original, output = frame.meta["original"], frame.image
        swapped = [f for f in frame.faces if f.selected and f.swapped is not None and f.landmarks is not None]
        outside = np.ones(output.shape[:2], bool)
        for face in frame.faces:
            if face.landmarks is None:
                continue
            grown = np.zeros(output.shape[:2], np.uint8)
            cv2.fillConvexPoly(grown, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 1)
            k = int(inter_ocular(face.landmarks)) * 2 + 1
            outside &= cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) == 0
        result.psnr.append(measures.psnr(output, original, outside))
        label = _label(clip, frame.index)
        for face in swapped:
            result.faces += 1
            region = measures.face_region(output.shape, face.landmarks)
            result.sharp_in += measures.laplacian_variance(original, region)
            result.sharp_out += measures.laplacian_variance(output, region)
            result.lab.append(np.abs(measures.lab_mean(output, region) - measures.lab_mean(original, region)))
            if label is not None:
                result.occl_kept.append(measures.kept_share(output, original, label))
                rest = region & ~cv2.dilate(label.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
                result.occl_swapped.append(1.0 - measures.kept_share(output, original, rest))
            if frame.index % every:
                continue
            refit = landmarker(output, Face(box=face.box.copy(), score=face.score, points5=face.points5))
            track = face.track_id
            source = face.landmarks_raw if face.landmarks_raw is not None else face.landmarks
            result.mouth.setdefault(track, []).append((measures.mouth_opening(source), measures.mouth_opening(refit)))
            result.eyes.setdefault(track, []).append((measures.eye_opening(source), measures.eye_opening(refit)))
            out_emb = face_embedding(output, refit)
            d_target = identity_distance(out_emb, target)
            d_source = identity_distance(out_emb, face_embedding(original, face.landmarks))
            result.id_target.append(d_target)
            result.id_source.append(d_source)
            result.won.append(d_target < d_source and d_target < SAME_PERSON)
    return result


def _label(clip: Clip, index: int) -> np.ndarray | None:
    if clip.labels is None:
        return None
    path = clip.labels / f"{clip.key}_{index:03d}.png"
    if not path.is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127


def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (the sample always runs to its "
                        "last labelled frame)")
    parser.add_argument("--identity-every", type=int, default=3, help="re-fit landmarks and embed every Nth frame")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated: " + ", ".join(CLIPS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    add_options(parser, "quality")
    args = parser.parse_args()
    unknown = [key for key in args.clips.split(",") if key not in CLIPS]
    if unknown:
        parser.error(f"--clips: unknown clip {unknown[0]!r} (known: {', '.join(CLIPS)})")
    run = begin_run(args)
    targets: dict[str, np.ndarray] = {}
    header = ("clip", "faces", "id->tgt", "id->src", "won", "mouth r", "eye r", "sharp", "occl", "swapped",
              "flicker", "dL", "da", "db", "psnr-out", "s")
    rows = []
    for key in args.clips.split(","):
        clip = CLIPS[key]
        identity = clip.direction[-1]
        if identity not in targets:
            targets[identity] = reference(identity)
        frames = args.frames
        if clip.labels is not None and clip.labels.is_dir():
            labelled = [int(p.stem.split("_")[-1]) for p in clip.labels.glob(f"{clip.key}_*.png")]
            frames = max([frames, *(i + 1 for i in labelled)])
        r = measure(clip, args.set, frames, args.identity_every, targets[identity])
        lab = np.mean(r.lab, axis=0) if r.lab else np.full(3, np.nan)
        finite = [p for p in r.psnr if not math.isinf(p)]
        psnr_out = float(np.mean(finite)) if finite else float("inf")
        rows.append((key, str(r.faces), _fmt(np.mean(r.id_target) if r.id_target else float("nan")),
                     _fmt(np.mean(r.id_source) if r.id_source else float("nan")),
                     _fmt(np.mean(r.won) if r.won else float("nan")), _fmt(pooled_correlation(r.mouth)),
                     _fmt(pooled_correlation(r.eyes)), _fmt(r.sharp_out / r.sharp_in if r.sharp_in else float("nan")),
                     _fmt(np.mean(r.occl_kept) if r.occl_kept else float("nan")),
                     _fmt(np.mean(r.occl_swapped) if r.occl_swapped else float("nan")), _fmt(r.flicker),
                     _fmt(lab[0], 1), _fmt(lab[1], 1), _fmt(lab[2], 1), _fmt(psnr_out, 1), f"{r.seconds:.0f}"))
        print("  ".join(rows[-1]), file=sys.stderr, flush=True)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    print("\n".join(lines))
    if args.set:
        print(f"\nsettings: {' '.join('--set ' + s for s in args.set)}")
    settings = " ".join(f"`{s}`" for s in args.set) or "the defaults"
    publish(args, run, f"Clips {', '.join(args.clips.split(','))}, {args.frames} frames each (the sample runs to its last "
            f"hand-labelled frame), identity and landmark re-fits every {args.identity_every} frames; settings: {settings}. "
            "Columns are defined in `bench/quality.py`'s docstring; `s` is the wall time of the clip, not a speed figure "
            "to compare.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
