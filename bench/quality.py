"""How real a swap looks, in numbers: artefact measures with a red/green verdict, then identity and colour.

Usage: python bench/quality.py [--frames 60] [--clips sample,b2a,d18,face2,face5,crowd] [--set KEY=VALUE ...]
                               [--measures all|artefacts] [--markdown docs/benchmarks.md [--section quality]]

Each clip runs through the default `convert` stages in-process (the same Runner, an in-memory sink).

Artefacts (the first table; ``stages/faces/artefacts.py`` defines each measure, its threshold and how it
was calibrated): landmark consistency (nme), ghosted double edges, seam at the face's rim, eye and mouth
openness correlation, mouth gap, eye tone against the skin, flicker. Each clip gives three rows:

- ``output``: today's swap against its input, the row that must be red wherever a viewer sees the fault;
- ``input``: the input as its own output, the green control (exactly 0, r = 1, ratio 1 by construction);
- ``x264``: the input through x264 at crf 18, the control that real noise (codec, landmark re-fit jitter)
  gives: every measure must be green on it, or the measure is measuring noise.

Each cell is the value and its verdict (RED / green; n/a where the source does not move enough for a
correlation). A number counts only if a bad result turns it red (issue 22).

Descriptive figures (the second table, ``--measures all``; no verdicts):

- id->target / id->source: dlib 128-D embedding distance of the output face to the target identity's
  mean embedding and to the same frame's input face. The target: for a bank swap, the bank person who
  painted that face (the bundled people's recorded identities, or the ``--face`` bank's); for a pair
  model, B = the first 72 frames of people/lp_d6_woman_scrunchie_funnyfaces_first30s.mp4 or A =
  WolfgangLanger frames 250+, not in the sample; "won" = share of faces nearer the target than the source AND within 0.6;
- occl: on frames with a hand label in tests/data/hands/, share of labelled occluder pixels whose
  value stays within 12 levels; "swapped" = share of the other inner-face pixels that changed by more;
- dL/da/db: mean |difference| of the mean CIE Lab of the inner face, output vs input;
- psnr-out: PSNR outside the face (hull grown by one inter-ocular distance) vs the input (= a
  passthrough before encoding); inf means untouched.

Withdrawn: the sharpness ratio (Laplacian variance of the inner face, output over input) is no longer
printed. It was a target that rewarded pasting the source's edges onto the painted face, the very
double outline ``double_edges`` now turns red. The old mouth r / eye r / flicker columns are the
artefact table's ``mouth_r`` / ``eye_r`` / ``flicker`` (now with thresholds).
Identity re-fits run on every ``--identity-every``-th frame to keep the run in minutes.
With --markdown the tables go into that page's section (bench/report.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field, replace
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
from stages.faces import artefacts, measures  # noqa: E402
from stages.faces.artefacts import ArtefactReport  # noqa: E402
from stages.faces.geometry import inter_ocular  # noqa: E402
from stages.faces.identity import SAME_PERSON, face_embedding, identity_distance, mean_embedding  # noqa: E402
from stages.faces.landmarkers import LANDMARKERS  # noqa: E402
from stages.landmarks import LandmarksConfig  # noqa: E402

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
    "d18": Clip("d18", MEDIA / "people" / "lp_d18_man_grey_hoodie_expressions.mp4"),  # unseen: expressions
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
    """The descriptive (verdict-free) figures of one clip."""

    id_target: list[float] = field(default_factory=list)
    id_source: list[float] = field(default_factory=list)
    won: list[bool] = field(default_factory=list)
    lab: list[np.ndarray] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    occl_kept: list[float] = field(default_factory=list)
    occl_swapped: list[float] = field(default_factory=list)
    faces: int = 0


@dataclass
class ArtefactRows:
    """One clip's artefact reports: today's output and the two controls."""

    output: ArtefactReport
    control: ArtefactReport  # the input as its own output
    encoded: ArtefactReport  # the input through x264 (crf 18)


def measure_artefacts(processed: list[Frame]) -> ArtefactRows:
    """The artefact measures of the output against its input, and of both controls. The source is
    detected and fitted once; each control costs only its own re-fit."""
    outputs = [frame.image for frame in processed]
    sources = [frame.meta["original"] for frame in processed]
    pairs = artefacts.fit_pairs(outputs, sources)
    encoded = artefacts.reencoded(sources)
    return ArtefactRows(
        output=artefacts.measure_clip(outputs, sources, pairs=pairs),
        control=artefacts.measure_clip(sources, sources, pairs=[replace(p, output=p.source) for p in pairs]),
        encoded=artefacts.measure_clip(encoded, sources, pairs=artefacts.refit(encoded, pairs)))


def bank_identities(overrides: list[str]) -> dict[str, np.ndarray] | None:
    """For a bank swap, who paints: {bank source name: its identity} (the bundled people's recorded
    ones, or the ``--face`` bank's embedded here); None for a pair model, whose B is ``REFERENCES``'."""
    from stages.faces.bank import bank_identity, read_bank_info
    from stages.swap import bundled_identities, open_face_bank, painting_method

    config = load_config(overrides=overrides).swap
    if painting_method(config) != "bank":
        return None
    if config.face:
        bank = open_face_bank(config)
        return {bank.source: bank.identity if bank.identity is not None else bank_identity(bank)}
    from models import BUNDLED_BANKS

    return dict(zip((read_bank_info(path)["source"] for path in BUNDLED_BANKS), bundled_identities()))


def measure(processed: list[Frame], clip: Clip, every: int, target: np.ndarray | dict[str, np.ndarray]) -> Result:
    """Identity, occluders, colour and the outside of the face, per swapped face (no verdicts).
    ``target``: B's embedding, or for a bank swap {bank source: identity}, each face measured against
    the person who painted it."""
    result = Result()
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
            result.lab.append(np.abs(measures.lab_mean(output, region) - measures.lab_mean(original, region)))
            if label is not None:
                result.occl_kept.append(measures.kept_share(output, original, label))
                rest = region & ~cv2.dilate(label.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
                result.occl_swapped.append(1.0 - measures.kept_share(output, original, rest))
            if frame.index % every:
                continue
            refit = landmarker(output, Face(box=face.box.copy(), score=face.score, points5=face.points5))
            out_emb = face_embedding(output, refit)
            goal = target[face.extras["bank_person"]] if isinstance(target, dict) else target
            d_target = identity_distance(out_emb, goal)
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


def _cell(measure: artefacts.Measure) -> str:
    """Value and verdict in one cell: ``0.098 RED``, ``0.006 green``, ``n/a``."""
    if measure.passed is None:
        return "n/a"
    digits = 3 if abs(measure.value) < 1 else 2
    return f"{measure.value:.{digits}f} {measure.verdict}"


def artefact_table(rows: list[tuple[str, ArtefactRows]]) -> tuple[list[str], list[list[str]]]:
    """Header (each measure with its target) and one row per clip and kind: output, input, x264."""
    first = rows[0][1].output.measures()
    header = ["clip", "row", "faces", *(f"{m.name} {m.target}" for m in first), "red"]
    body = []
    for key, clip_rows in rows:
        for kind, report in (("output", clip_rows.output), ("input", clip_rows.control), ("x264", clip_rows.encoded)):
            red = sum(m.passed is False for m in report.measures())
            body.append([key, kind, str(report.faces), *(_cell(m) for m in report.measures()), str(red)])
    return header, body


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(row) + " |" for row in rows])


def _na(count: int) -> str:
    return f" ({count} n/a)" if count else ""


def verdict_lines(rows: list[tuple[str, ArtefactRows]]) -> list[str]:
    """Per measure: is it red on every measured output and green on every control? The measure counts only then."""
    lines = []
    for i, measure in enumerate(rows[0][1].output.measures()):
        outputs = [r.output.measures()[i] for _, r in rows]
        controls = [m for _, r in rows for m in (r.control.measures()[i], r.encoded.measures()[i])]
        red = [m.passed is False for m in outputs if m.passed is not None]
        green = [m.passed is True for m in controls if m.passed is not None]
        ok = bool(red) and all(red) and all(green)
        lines.append(f"- `{measure.name}` ({measure.target}): red on {sum(red)} of {len(outputs)} outputs"
                     f"{_na(len(outputs) - len(red))}, green on {sum(green)} of {len(controls)} controls"
                     f"{_na(len(controls) - len(green))}{'' if ok else ' — does NOT separate here'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (the sample always runs to its "
                        "last labelled frame)")
    parser.add_argument("--identity-every", type=int, default=3, help="re-fit landmarks and embed every Nth frame")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated: " + ", ".join(CLIPS) +
                        ", or a video's path")
    parser.add_argument("--measures", choices=("all", "artefacts"), default="all",
                        help="artefacts: only the red/green artefact table (no identity references, faster)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    add_options(parser, "quality")
    args = parser.parse_args()
    keys = args.clips.split(",")
    for key in keys:  # a path names a clip of the user's own (direction a2b: B painted onto it)
        if key not in CLIPS and Path(key).is_file():
            CLIPS[key] = Clip(Path(key).stem, Path(key))
    unknown = [key for key in keys if key not in CLIPS]
    if unknown:
        parser.error(f"--clips: unknown clip {unknown[0]!r} (known: {', '.join(CLIPS)})")
    run = begin_run(args)
    targets: dict[str, np.ndarray] = {}
    header = ("clip", "faces", "id->tgt", "id->src", "won", "occl", "swapped", "dL", "da", "db", "psnr-out", "s")
    rows, artefact_rows = [], []
    painters = bank_identities(args.set) if args.measures == "all" else None  # the same for every clip
    for key in keys:
        clip = CLIPS[key]
        frames = args.frames
        if clip.labels is not None and clip.labels.is_dir():
            labelled = [int(p.stem.split("_")[-1]) for p in clip.labels.glob(f"{clip.key}_*.png")]
            frames = max([frames, *(i + 1 for i in labelled)])
        started = time.perf_counter()
        processed, _ = run_clip(clip.path, [*args.set, f"swap.direction={clip.direction}"], frames)
        artefact_rows.append((clip.key, measure_artefacts(processed)))
        for kind in ("output", "control", "encoded"):
            report = getattr(artefact_rows[-1][1], kind)
            print(f"{key} {kind}: " + "; ".join(m.describe() for m in report.measures()), file=sys.stderr, flush=True)
        if args.measures == "artefacts":
            continue
        identity = clip.direction[-1]
        if painters is None and identity not in targets:
            targets[identity] = reference(identity)
        r = measure(processed, clip, args.identity_every, painters if painters is not None else targets[identity])
        seconds = time.perf_counter() - started
        lab = np.mean(r.lab, axis=0) if r.lab else np.full(3, np.nan)
        finite = [p for p in r.psnr if not math.isinf(p)]
        psnr_out = float(np.mean(finite)) if finite else float("inf")
        rows.append((clip.key, str(r.faces), _fmt(np.mean(r.id_target) if r.id_target else float("nan")),
                     _fmt(np.mean(r.id_source) if r.id_source else float("nan")),
                     _fmt(np.mean(r.won) if r.won else float("nan")),
                     _fmt(np.mean(r.occl_kept) if r.occl_kept else float("nan")),
                     _fmt(np.mean(r.occl_swapped) if r.occl_swapped else float("nan")),
                     _fmt(lab[0], 1), _fmt(lab[1], 1), _fmt(lab[2], 1), _fmt(psnr_out, 1), f"{seconds:.0f}"))
        print("  ".join(rows[-1]), file=sys.stderr, flush=True)
    a_header, a_rows = artefact_table(artefact_rows)
    verdicts = verdict_lines(artefact_rows)
    text = _markdown(a_header, a_rows) + "\n\n" + "\n".join(verdicts)
    if rows:
        text += "\n\nDescriptive figures (no verdicts):\n\n" + _markdown(list(header), [list(r) for r in rows])
    print(text)
    if args.set:
        print(f"\nsettings: {' '.join('--set ' + s for s in args.set)}")
    settings = " ".join(f"`{s}`" for s in args.set) or "the defaults"
    publish(args, run, f"Clips {', '.join(keys)}, {args.frames} frames each (the sample runs to its last "
            f"hand-labelled frame); settings: {settings}. Artefact measures and thresholds are defined in "
            "`stages/faces/artefacts.py` (largest face per frame): `output` is the swap against its input, `input` "
            "the input as its own output and `x264` the input through x264 at crf 18, the two controls every "
            "measure must leave green; `n/a`: the source moves too little for a correlation. "
            + ("" if not rows else "The descriptive columns are defined in `bench/quality.py`'s docstring; `s` is the "
               "wall time of the clip, not a speed figure to compare. ")
            + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
