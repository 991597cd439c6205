"""Blind by-eye check of the face swap: shuffled head crops, some real and some swapped, for a judge.

A swap is judged by a viewer, not by a number (issue 22). ``make`` builds a set of single head crops
in which each video is either REAL or SWAPPED, never both, so the judge can never put one person's real
frame next to their swapped one and spot the difference instead of judging the face. The default set
swaps every fake-eligible clip (four people/ clips the bundled model never saw, plus the project's own
single_face.mp4 and samples/sample.mp4) and takes the reals from six *other* people in people/: the
judge must never see the same person real and fake. Real clips go through ``facepipe convert
--passthrough`` with the same trim and encoder as the swapped ones, so compression is no tell either. The key (crop -> video, real/fake,
frame, settings) goes to DIR/key.json, outside DIR/crops: hand the judge only DIR/crops.

``score`` reads the judge's answers (CSV ``crop,label,confidence,evidence``) and prints fakes caught,
fakes caught with confidence >= 4, reals flagged and the judge's evidence per fake crop. The issue's
targets: fakes caught <= 50 %, reals flagged <= 10 %.

Usage:
  python bench/blind.py make --out DIR [--clips V ... | --fakes V ... --reals V ...] [--crops-per-video 2]
                              [--seed 0] [--frames 90] [--set KEY=VALUE ...] [--face FAKE=B ...] [--overwrite]
  python bench/blind.py score --out DIR --answers ANSWERS.csv [--judge NAME]
                              [--markdown docs/benchmarks.md [--section blind]]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import add_options, begin_run, git_commit, publish, table  # noqa: E402
from pipeline.errors import FacepipeError  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
PEOPLE = MEDIA / "people"
# All swapped in the default set: four people/ clips the bundled model never saw, and the project's own two.
DEFAULT_FAKES = (
    PEOPLE / "lp_d18_man_grey_hoodie_expressions.mp4",
    MEDIA / "single_face.mp4",
    PEOPLE / "retalking_face2_man_map_bg_talk.mp4",
    PEOPLE / "retalking_face5_older_woman_glasses_talk.mp4",
    PEOPLE / "facenet_crowd_multiface.mp4",  # several faces: the largest is cropped
    REPO / "samples" / "sample.mp4",
)
# Other people (none of them in DEFAULT_FAKES), one per clip, 410-700 px, sharp, talking or making faces:
# three women, three men, glasses and none, studio and outdoors.
DEFAULT_REALS = (
    PEOPLE / "lp_d3_woman_hoop_earrings_expressions.mp4",
    PEOPLE / "retalking_face4_woman_blue_bg_talk.mp4",
    PEOPLE / "megactor_woman_glasses_talk.mp4",
    PEOPLE / "lp_d19_man_glasses_white_sweater.mp4",
    PEOPLE / "retalking_face1_man_suit_talk.mp4",
    PEOPLE / "lp_d20_young_man_outdoor_talk.mp4",
)
CROP_PX = 320  # side of every crop written
HEAD_SCALE = 1.8  # crop side / longer side of the detector's face box: hair, neck and background edges show
HEAD_LIFT = 0.1  # the crop centre sits this fraction of the box height above the box centre (hair over chest)
MIN_SWAP_MASK = 0.3  # a swapped crop's central face must be at least this much covered by the blend mask
CONFIDENT = 4  # "caught with confidence": a fake labelled fake with at least this confidence
TARGET_CAUGHT = 0.5  # issue 22: a judge catches at most half the fakes...
TARGET_FLAGGED = 0.1  # ...and flags at most one real in ten
LABELS = ("real", "fake")
KEY_VERSION = 1


class BlindError(FacepipeError):
    """Bad input to this script: printed as one line, exit 2."""


# --------------------------------------------------------------------------------------------- make


@dataclass
class Video:
    """One candidate clip and the side it was put on."""

    name: str  # unique within the set (the file stem, numbered when two clips share a stem)
    source: str
    label: str  # "real" or "fake"
    face: str = ""  # a fake's own B (``--face``: the person painted in); empty = the convert's default
    converted: str = ""  # the clip the crops were cut from (facepipe convert output)
    command: list[str] = field(default_factory=list)


@dataclass
class Crop:
    """One head crop: what the key says about it."""

    crop: str  # file stem in DIR/crops, e.g. "07"
    video: str
    label: str
    frame: int  # frame index in the converted clip
    face_box: list[float]  # detector box x0, y0, x1, y1 in the frame
    crop_box: list[int]  # square x0, y0, x1, y1 cut from the frame
    swap_mask: float | None  # mean blend mask over the central half of the face box (fakes; None: no masks)
    sha256: str = ""


@dataclass
class MadeSet:
    """What ``make`` produced."""

    crops_dir: Path
    key_file: Path
    videos: list[Video]
    crops: list[Crop]


def split_videos(clips: Sequence[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded balanced split of ``clips`` into (fakes, reals): each clip on one side only."""
    order = list(clips)
    random.Random(f"blind-split-{seed}").shuffle(order)
    half = (len(order) + 1) // 2
    return order[:half], order[half:]


def check_clips(fakes: Sequence[Path], reals: Sequence[Path]) -> None:
    """Refuse a set a judge could not judge blind: missing files, one clip on both sides, an empty side."""
    if not fakes or not reals:
        raise BlindError("need at least one real and one swapped clip (give two or more --clips)")
    for clip in [*fakes, *reals]:
        if not clip.is_file():
            raise BlindError(f"clip not found: {clip}")
    both = {c.resolve() for c in fakes} & {c.resolve() for c in reals}
    if both:
        raise BlindError(f"clip both real and swapped: {sorted(both)[0]}")
    every = [c.resolve() for c in [*fakes, *reals]]
    if len(set(every)) != len(every):
        raise BlindError("a clip is listed twice")


def unique_names(clips: Sequence[Path]) -> list[str]:
    """File stems, numbered where two clips share one."""
    seen: dict[str, int] = {}
    names = []
    for clip in clips:
        stem = clip.stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


def convert(video: Video, out: Path, frames: int, settings: Sequence[str], masks: Path | None) -> None:
    """Run the real ``facepipe convert`` (a swap for fakes, ``--passthrough`` for reals: same trim and encoder)."""
    command = [sys.executable, "-m", "pipeline.cli.main", "convert", video.source, "-o", str(out), "--overwrite", "-q"]
    if frames:
        command += ["--end", f"{frames}f"]
    if video.label == "real":
        command.append("--passthrough")
    elif masks is not None:
        command += ["--write-masks", str(masks)]
    if video.label == "fake" and video.face:
        command += ["--face", video.face]
    for setting in settings:
        command += ["--set", setting]
    print(f"  convert {video.name} ({'swap' if video.label == 'fake' else 'passthrough'})", file=sys.stderr)
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise BlindError(f"facepipe convert of {video.name} failed: {last}")
    video.converted, video.command = str(out), [Path(command[0]).name, *command[1:]]


def head_box(face_box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The square head crop around a face box: HEAD_SCALE x its longer side, lifted a little towards the
    hair, moved (not padded) to stay inside the frame, so no black border tells one clip from another."""
    x0, y0, x1, y1 = (float(v) for v in face_box)
    side = min(HEAD_SCALE * max(x1 - x0, y1 - y0), width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - HEAD_LIFT * (y1 - y0)
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    side_px = int(round(side))
    return left, top, left + side_px, top + side_px


def cut_head(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The square ``box`` of ``image`` resized to CROP_PX (area when shrinking, cubic when enlarging)."""
    import cv2

    x0, y0, x1, y1 = box
    square = image[y0:y1, x0:x1]
    shrink = square.shape[0] >= CROP_PX
    return cv2.resize(square, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class FaceFinder:
    """The project's detect stage (pipeline.toml settings, a detection on every frame): the largest face."""

    def __init__(self) -> None:
        from pipeline.cli.settings import load_config
        from pipeline.stage import StageContext
        from stages.detect import DetectStage

        cfg = dataclasses.replace(load_config().detect, every=1)  # frames are looked at one by one, never tracked
        self.stage = DetectStage(cfg)
        self.stage.open(StageContext(video=None, config=cfg, warn=lambda message: None))  # type: ignore[arg-type]
        self.min_face = cfg.min_face

    def largest(self, image: np.ndarray, index: int) -> np.ndarray | None:
        """The largest face box (x0, y0, x1, y1) in ``image``, or None."""
        from pipeline.frame import Frame

        frame = Frame(index, 0.0, image)
        self.stage.process([frame])
        if not frame.faces:
            return None
        return max(frame.faces, key=lambda f: f.width * f.height).box.astype(np.float64)

    def close(self) -> None:
        self.stage.close(True)


def targets(total: int, count: int) -> list[int]:
    """``count`` frame indices spread over ``total`` frames: the centres of ``count`` equal parts."""
    return [min(total - 1, int((i + 0.5) * total / count)) for i in range(count)]


def decoded(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR image) of every frame of ``path``."""
    from pipeline.media.decode import FileSource

    source = FileSource(path)
    source.open()
    try:
        for frame in source.frames():
            yield frame.index, frame.image
    finally:
        source.close()


def swap_coverage(masks: Path | None, index: int, box: np.ndarray) -> float | None:
    """Mean blend mask over the central half of the face box (eyes, nose, mouth) in frame ``index``: near 1
    for a swapped face, near 0 for one the swap left alone; None when the run wrote no masks at all."""
    import cv2

    if masks is None or not masks.is_dir() or not any(masks.iterdir()):
        return None
    mask = cv2.imread(str(masks / f"{index:06d}.png"), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        return 0.0
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    top, bottom = max(int(round(y0 + h / 4)), 0), max(int(round(y1 - h / 4)), 0)
    left, right = max(int(round(x0 + w / 4)), 0), max(int(round(x1 - w / 4)), 0)
    region = mask[top:bottom, left:right]
    return float(region.mean() / 255.0) if region.size else 0.0


def nearest_faces(path: Path, total: int, count: int, finder: FaceFinder,
                  accept: Callable[[int, np.ndarray], bool] | None = None) -> list[tuple[int, np.ndarray, np.ndarray] | None]:
    """Per part of ``path`` (``count`` equal parts of its ``total`` frames): the frame nearest the part's
    centre whose largest face is found and, with ``accept``, accepted (``accept(index, box)``), as
    (index, image, face box); None for a part with none."""
    centres = targets(total, count)
    part = total / count
    best: list[tuple[float, int, np.ndarray, np.ndarray] | None] = [None] * count
    for index, image in decoded(path):
        slot = min(int(index / part), count - 1)
        distance = abs(index - centres[slot])
        current = best[slot]
        if current is not None and current[0] <= distance:
            continue
        box = finder.largest(image, index)
        if box is None or (accept is not None and not accept(index, box)):
            continue
        best[slot] = (distance, index, image, box)
    return [None if b is None else b[1:] for b in best]


def pick_crops(video: Video, count: int, finder: FaceFinder, masks: Path | None) -> list[tuple[Crop, np.ndarray]]:
    """``count`` head crops spread over the converted clip. Each part of the clip gives the frame nearest its
    centre whose largest face is found (and, for a fake, was actually swapped: blend mask over the face)."""
    from pipeline.media.decode import probe

    path = Path(video.converted)
    total = probe(path).frame_count
    if total < count:
        raise BlindError(f"{video.name}: {total} frames, fewer than --crops-per-video {count}")
    coverages: dict[int, float | None] = {}

    def swapped(index: int, box: np.ndarray) -> bool:
        coverage = coverages[index] = swap_coverage(masks, index, box) if video.label == "fake" else None
        return coverage is None or coverage >= MIN_SWAP_MASK

    found = nearest_faces(path, total, count, finder, swapped)
    missing = [i for i, b in enumerate(found) if b is None]
    if missing:
        what = "swapped face" if video.label == "fake" else "face"
        raise BlindError(f"{video.name}: no {what} found in part {missing[0] + 1} of {count} of the clip")
    picked = []
    for index, image, box in (b for b in found if b is not None):
        height, width = image.shape[:2]
        square = head_box(box, width, height)
        coverage = coverages[index]
        crop = Crop("", video.name, video.label, index, [round(float(v), 1) for v in box], list(square),
                    None if coverage is None else round(coverage, 3))
        picked.append((crop, cut_head(image, square)))
    return picked


INSTRUCTIONS = """# Blind check: real or swapped?

This folder holds {count} head crops, `{first}.png` to `{last}.png`, each {px}x{px} px, cut from videos.
Some videos are real; in others the face was replaced by a face-swap program. Each video is either
wholly real or wholly swapped, and no person appears in both kinds. The numbering is shuffled and says
nothing about the answer: judge each crop on its own.

For every crop, judge by eye (zoom in as you like; do not use detection software) and write one line:

- `label`: `real` or `fake`
- `confidence`: 1 (a guess) to 5 (certain)
- `evidence`: what you saw that decided it, as precisely as you can (which part of the face or picture,
  and what about it looks natural or not)

Answer file: a CSV with this header and one row per crop (`answers_template.csv` is a start), e.g.

```
crop,label,confidence,evidence
{first},real,3,"what you saw, where"
```

Put quotes around evidence that contains commas. Answer every crop.
"""


def write_crops(out: Path, picked: list[tuple[Crop, np.ndarray]], seed: int) -> list[Crop]:
    """Number the crops in a seeded shuffled order and write them (in number order, one shared mtime, no
    metadata), the judge's instructions and an answers template into ``out``."""
    from pipeline.media.atomic import write_image

    order = list(range(len(picked)))
    random.Random(f"blind-order-{seed}").shuffle(order)
    digits = max(2, len(str(len(picked))))
    numbered: list[tuple[Crop, np.ndarray]] = [None] * len(picked)  # type: ignore[list-item]
    for number, which in enumerate(order, start=1):
        crop, image = picked[which]
        crop.crop = f"{number:0{digits}d}"
        numbered[number - 1] = (crop, image)
    out.mkdir(parents=True, exist_ok=True)
    for crop, image in numbered:
        file = out / f"{crop.crop}.png"
        if not write_image(file, image):
            raise BlindError(f"cannot write {file}")
        crop.sha256 = hashlib.sha256(file.read_bytes()).hexdigest()
    names = [c.crop for c, _ in numbered]
    (out / "INSTRUCTIONS.md").write_text(INSTRUCTIONS.format(count=len(names), first=names[0], last=names[-1],
                                                             px=CROP_PX), encoding="utf-8")
    (out / "answers_template.csv").write_text("crop,label,confidence,evidence\n" + "".join(f"{n},,,\n" for n in names),
                                              encoding="utf-8")
    stamp = min(f.stat().st_mtime for f in out.iterdir())
    for file in out.iterdir():
        os.utime(file, (stamp, stamp))
    return [c for c, _ in numbered]


def faces_for(fakes: Sequence[Path], reals: Sequence[Path], pairs: Sequence[str]) -> dict[str, str]:
    """``--face FAKE=B`` pairs as {fake's resolved path: B's resolved path}. FAKE is a fake's path or file
    stem. A B that is a video of the set is refused: the judge would see B's own real frames beside
    their face on another head, a comparison no viewer of one video can make."""
    by_name = {clip.stem: clip.resolve() for clip in fakes} | {str(clip): clip.resolve() for clip in fakes}
    in_set = {clip.resolve() for clip in [*fakes, *reals]}
    chosen: dict[str, str] = {}
    for pair in pairs:
        fake, sep, face = pair.partition("=")
        if not sep or not fake or not face:
            raise BlindError(f"--face wants FAKE=B (a fake's stem or path, then the person to paint in), got {pair!r}")
        if fake not in by_name:
            raise BlindError(f"--face {pair}: {fake!r} is not one of the fakes")
        b = Path(face).resolve()
        if not b.exists():
            raise BlindError(f"--face {pair}: {face} not found")
        if b in in_set:
            raise BlindError(f"--face {pair}: {b.name} is itself a video of the set")
        chosen[str(by_name[fake])] = str(b)
    return chosen


def make(out: Path, fakes: Sequence[Path], reals: Sequence[Path], crops_per_video: int, seed: int, frames: int,
         settings: Sequence[str], overwrite: bool = False, faces: Sequence[str] = ()) -> MadeSet:
    """Convert, crop, shuffle and write the set and its key; the judge's folder is ``out/crops``.
    ``faces``: ``FAKE=B`` pairs, each fake painted with its own B (``--face``) instead of the default."""
    check_clips(fakes, reals)
    chosen = faces_for(fakes, reals, faces)
    crops_dir, key_file, scratch = out / "crops", out / "key.json", out / "videos"
    if not overwrite and (key_file.exists() or (crops_dir.is_dir() and any(crops_dir.iterdir()))):
        raise BlindError(f"{out} already holds a blind set (use --overwrite to replace it)")
    for old in (crops_dir, scratch):
        if old.is_dir():
            shutil.rmtree(old)
    key_file.unlink(missing_ok=True)
    scratch.mkdir(parents=True)
    clips = [*fakes, *reals]
    videos = [Video(name, str(clip.resolve()), "fake" if i < len(fakes) else "real",
                    face=chosen.get(str(clip.resolve()), "") if i < len(fakes) else "")
              for i, (name, clip) in enumerate(zip(unique_names(clips), clips))]
    finder = FaceFinder()
    picked: list[tuple[Crop, np.ndarray]] = []
    try:
        for video in videos:
            masks = scratch / f"{video.name}.masks" if video.label == "fake" else None
            convert(video, scratch / f"{video.name}.mp4", frames, settings, masks)
            picked += pick_crops(video, crops_per_video, finder, masks)
            if masks is not None and masks.is_dir():
                shutil.rmtree(masks)  # only needed to see which faces were swapped
    finally:
        finder.close()
    crops = write_crops(crops_dir, picked, seed)
    key = {"version": KEY_VERSION, "seed": seed, "frames": frames, "crops_per_video": crops_per_video,
           "settings": list(settings), "commit": git_commit(), "crop_px": CROP_PX, "head_scale": HEAD_SCALE,
           "videos": [asdict(v) for v in videos], "crops": [asdict(c) for c in sorted(crops, key=lambda c: c.crop)]}
    key_file.write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
    return MadeSet(crops_dir, key_file, videos, crops)


# -------------------------------------------------------------------------------------------- score


@dataclass
class Answer:
    """One row of the judge's answers."""

    crop: str
    label: str
    confidence: int
    evidence: str


@dataclass
class Judged:
    """A crop with the truth from the key and the judge's answer."""

    crop: str
    video: str
    truth: str
    answer: Answer


@dataclass
class Score:
    """The judge's rates against the issue's targets."""

    fakes: int
    reals: int
    caught: int  # fakes labelled fake
    caught_confident: int  # ... with confidence >= CONFIDENT
    flagged: int  # reals labelled fake
    judged: list[Judged]

    @property
    def caught_rate(self) -> float:
        return self.caught / self.fakes if self.fakes else 0.0

    @property
    def confident_rate(self) -> float:
        return self.caught_confident / self.fakes if self.fakes else 0.0

    @property
    def flagged_rate(self) -> float:
        return self.flagged / self.reals if self.reals else 0.0

    @property
    def passes(self) -> bool:
        """Issue 22: a judge catches at most half the fakes and flags at most one real in ten."""
        return self.caught_rate <= TARGET_CAUGHT and self.flagged_rate <= TARGET_FLAGGED


def crop_id(text: str) -> str:
    """The crop's stem as the judge wrote it ("07" or "07.png"); ``score`` also matches "7" to "07"."""
    stem = text.strip()
    stem = stem[:-4] if stem.lower().endswith(".png") else stem
    return stem


def load_key(out: Path) -> dict:
    """DIR/key.json, checked enough to score against."""
    key_file = out / "key.json"
    if not key_file.is_file():
        raise BlindError(f"no key: {key_file} not found (run `make --out {out}` first)")
    try:
        key = json.loads(key_file.read_text(encoding="utf-8"))
        crops = {c["crop"]: c for c in key["crops"]}
        if any(c["label"] not in LABELS for c in crops.values()):
            raise ValueError("a label is neither real nor fake")
    except (ValueError, KeyError, TypeError) as error:
        raise BlindError(f"{key_file}: not a blind-set key ({error})") from None
    key["by_crop"] = crops
    return key


def read_answers(path: Path) -> list[Answer]:
    """The judge's CSV (header optional; extra commas in unquoted evidence are kept as evidence)."""
    if not path.is_file():
        raise BlindError(f"answers not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BlindError(f"cannot read {path}: {error}") from None
    answers = []
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if line_no == 1 and row[0].strip().lower() == "crop":
            continue
        if len(row) < 3:
            raise BlindError(f"{path}:{line_no}: expected crop,label,confidence,evidence, got {','.join(row)!r}")
        label = row[1].strip().lower()
        if label not in LABELS:
            raise BlindError(f"{path}:{line_no}: label must be real or fake, got {row[1].strip()!r}")
        try:
            confidence = int(row[2].strip())
        except ValueError:
            confidence = 0
        if not 1 <= confidence <= 5:
            raise BlindError(f"{path}:{line_no}: confidence must be 1 to 5, got {row[2].strip()!r}")
        answers.append(Answer(crop_id(row[0]), label, confidence, ",".join(row[3:]).strip()))
    return answers


def score(key: dict, answers: Sequence[Answer]) -> Score:
    """Match every answer to the key; refuse an unknown, repeated or missing crop."""
    crops: dict[str, dict] = key["by_crop"]
    by_number = {int(name): name for name in crops if name.isdigit()}
    seen: dict[str, Answer] = {}
    for answer in answers:
        name = answer.crop if answer.crop in crops else by_number.get(int(answer.crop)) if answer.crop.isdigit() else None
        if name is None:
            raise BlindError(f"answers name crop {answer.crop!r}, which is not in the set")
        if name in seen:
            raise BlindError(f"answers name crop {name!r} twice")
        seen[name] = answer
    missing = sorted(set(crops) - set(seen))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise BlindError(f"answers miss crop {missing[0]!r}{more}: answer every crop")
    judged = [Judged(name, crops[name]["video"], crops[name]["label"], seen[name]) for name in sorted(crops)]
    fakes = [j for j in judged if j.truth == "fake"]
    reals = [j for j in judged if j.truth == "real"]
    return Score(len(fakes), len(reals), sum(j.answer.label == "fake" for j in fakes),
                 sum(j.answer.label == "fake" and j.answer.confidence >= CONFIDENT for j in fakes),
                 sum(j.answer.label == "fake" for j in reals), judged)


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} ({100 * count / total:.0f} %)" if total else "0/0"


def report_lines(result: Score) -> list[str]:
    """What ``score`` prints."""
    lines = [f"fakes caught (labelled fake): {_pct(result.caught, result.fakes)}   target <= {TARGET_CAUGHT:.0%}",
             f"  caught with confidence >= {CONFIDENT}: {_pct(result.caught_confident, result.fakes)}",
             f"reals flagged (labelled fake): {_pct(result.flagged, result.reals)}   target <= {TARGET_FLAGGED:.0%}",
             f"targets {'met' if result.passes else 'NOT met'}", "", "evidence per fake crop:"]
    for j in result.judged:
        if j.truth == "fake":
            lines.append(f"  {j.crop}  {j.video}  -> {j.answer.label} ({j.answer.confidence}): {j.answer.evidence or '-'}")
    flagged = [j for j in result.judged if j.truth == "real" and j.answer.label == "fake"]
    if flagged:
        lines += ["", "reals flagged as fake:"]
        lines += [f"  {j.crop}  {j.video}  ({j.answer.confidence}): {j.answer.evidence or '-'}" for j in flagged]
    return lines


def report_markdown(result: Score, key: dict, judge: str) -> str:
    """The section ``--markdown`` writes: the rates against the targets, then the evidence per fake crop."""
    settings = " ".join(f"`{s}`" for s in key.get("settings", [])) or "the defaults"
    frames = key.get("frames") or "all"
    lines = [f"Judge: {judge}. Swap settings: {settings}. {len(key['videos'])} videos, each wholly real or wholly "
             f"swapped, {key.get('crops_per_video', '?')} head crop(s) each from the first {frames} frames "
             f"(key commit `{key.get('commit', '?')}`, seed {key.get('seed', '?')}). Targets (issue 22): fakes caught "
             f"<= {TARGET_CAUGHT:.0%}, reals flagged <= {TARGET_FLAGGED:.0%}.", ""]
    painted = [(v["name"], Path(v["face"]).stem) for v in key["videos"] if v.get("face")]
    if painted:
        lines += ["Each of these fakes was painted with its own B (`--face`); the rest with the default:", "",
                  table(["fake video", "B (the person painted in)"], painted)]
    lines.append(table(["fakes caught", f"caught with confidence >= {CONFIDENT}", "reals flagged", "targets"],
                       [(_pct(result.caught, result.fakes), _pct(result.caught_confident, result.fakes),
                         _pct(result.flagged, result.reals), "met" if result.passes else "not met")]))
    lines.append("The judge's evidence per fake crop:\n")
    lines.append(table(["crop", "video", "label", "confidence", "evidence"],
                       [(j.crop, j.video, j.answer.label, j.answer.confidence, j.answer.evidence or "-")
                        for j in result.judged if j.truth == "fake"]))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/blind.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make", help="build a shuffled set of real and swapped head crops and its key")
    made.add_argument("--out", required=True, type=Path, help="set folder: crops/ for the judge, key.json beside it")
    made.add_argument("--clips", nargs="+", type=Path, help="candidate videos (one person each, all different "
                      "people), split seeded and balanced into real and swapped")
    made.add_argument("--fakes", nargs="+", type=Path, help="videos to swap (with --reals instead of --clips)")
    made.add_argument("--reals", nargs="+", type=Path, help="videos left real (other people than --fakes)")
    made.add_argument("--crops-per-video", type=int, default=2)
    made.add_argument("--seed", type=int, default=0, help="seeds the split and the crop numbering")
    made.add_argument("--frames", type=int, default=90, help="convert only the first N frames of each clip "
                      "(0 = all); crops are spread over them")
    made.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="config override passed to every facepipe convert (repeatable)")
    made.add_argument("--face", action="append", default=[], metavar="FAKE=B",
                      help="paint fake FAKE (file stem or path) with person B (a video, photo folder or bank file) "
                      "instead of the default; B must not be a video of the set (repeatable)")
    made.add_argument("--overwrite", action="store_true", help="replace a set already in --out")
    scored = commands.add_parser("score", help="score a judge's answers against the key")
    scored.add_argument("--out", required=True, type=Path, help="the set folder given to make")
    scored.add_argument("--answers", required=True, type=Path, help="CSV crop,label,confidence,evidence")
    scored.add_argument("--judge", default="unnamed judge", help="who judged (written into the markdown)")
    add_options(scored, "blind")
    args = parser.parse_args(argv)
    try:
        if args.command == "make":
            return _make(parser, args)
        return _score(args)
    except FacepipeError as error:
        print(f"bench/blind.py: error: {error}", file=sys.stderr)
        return 2


def _make(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.crops_per_video < 1 or args.frames < 0:
        parser.error("--crops-per-video must be at least 1 and --frames at least 0")
    if args.clips and (args.fakes or args.reals):
        parser.error("give either --clips or --fakes/--reals, not both")
    if bool(args.fakes) != bool(args.reals):
        parser.error("--fakes and --reals go together")
    if args.clips:
        fakes, reals = split_videos(args.clips, args.seed)
    elif args.fakes:
        fakes, reals = list(args.fakes), list(args.reals)
    else:
        fakes, reals = list(DEFAULT_FAKES), list(DEFAULT_REALS)
    result = make(args.out, fakes, reals, args.crops_per_video, args.seed, args.frames, args.set, args.overwrite,
                  args.face)
    fake_count = sum(c.label == "fake" for c in result.crops)
    print(f"{len(result.crops)} crops ({fake_count} fake, {len(result.crops) - fake_count} real) from "
          f"{len(result.videos)} videos")
    print(f"judge's folder: {result.crops_dir}  (hand over only this)")
    print(f"key:            {result.key_file}  (keep it from the judge)")
    return 0


def _score(args: argparse.Namespace) -> int:
    run = begin_run(args)
    key = load_key(args.out)
    result = score(key, read_answers(args.answers))
    print("\n".join(report_lines(result)))
    publish(args, run, report_markdown(result, key, args.judge))
    return 0


if __name__ == "__main__":
    sys.exit(main())
