"""Blind paired preference: the same frame swapped two ways, side by side; which one looks real?

Why: the blind check (``bench/blind.py``) asks a judge "real or swapped?" of single crops. Its counts
move by about ten points between judges of one round with no change to the swap (3 to 9 of 18 fakes
caught in round 25, ``docs/benchmarks.md``), so a change that helps a little cannot be told from
noise there. Shown one frame swapped with settings A and with settings B, left and right in a seeded
random order, a judge compares like with like: the person, pose, light and compression are the same,
and only what the change changed differs. That is the question a change to the swap must answer
before it goes to the blind check.

``make`` converts each clip twice (``facepipe convert`` with each side's ``--set`` overrides, same
trim and encoder), finds the largest face in frames spread over the clip (on A's output; the head
box is the same for both), and writes DIR/pairs/NN.png: the two head crops side by side. The key
(which side is which) goes to DIR/key.json, outside pairs/.

On a small difference the judges' choices follow the cues their brief names: the same question on
B's shine went 42 to 7 one way and 49 to 2 the other on two briefs (``docs/benchmarks.md#paired-preference``).
So the instructions name every cue in both directions, and a preference on a small change counts
only when it holds on briefs that lean both ways.

``score`` reads one or more judges' answers (CSV ``pair,choice,confidence,evidence``, choice
``left``, ``right`` or ``same``) and prints how often B was preferred to A, with a two-sided sign
test over the pairs that were not called the same, per judge and pooled.

Usage:
  python bench/prefer.py make --out DIR --a NAME=KEY=VALUE;KEY=VALUE --b NAME=KEY=VALUE;...
                              [--clips V ...] [--pairs-per-clip 3] [--frames 120] [--seed 0] [--overwrite]
  python bench/prefer.py score --out DIR --answers A.csv [B.csv ...] [--judge NAME ...]
                               [--markdown docs/benchmarks.md --section NAME]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.blind import (CROP_PX, DEFAULT_FAKES, FaceFinder, Video, convert, cut_head, decoded,  # noqa: E402
                         head_box, nearest_faces, unique_names)
from bench.report import add_options, begin_run, git_commit, publish, table  # noqa: E402
from pipeline.errors import FacepipeError  # noqa: E402

CHOICES = ("left", "right", "same")
GAP_PX = 8  # grey gap between the two crops of a pair
KEY_VERSION = 1


class PreferError(FacepipeError):
    """Bad input to this script: printed as one line, exit 2."""


@dataclass
class Side:
    """One of the two settings compared."""

    name: str
    settings: list[str]


@dataclass
class Pair:
    """One pair image: what the key says about it."""

    pair: str  # file stem in DIR/pairs, e.g. "07"
    clip: str
    frame: int
    crop_box: list[int]
    left: str  # "a" or "b": which side's crop is on the left


@dataclass
class Answer:
    pair: str
    choice: str
    confidence: int
    evidence: str


@dataclass
class Tally:
    """Preferences of one judge (or all pooled)."""

    judge: str
    prefer_a: int = 0
    prefer_b: int = 0
    same: int = 0
    per_clip: dict[str, list[int]] = field(default_factory=dict)  # clip -> [a, b, same]

    @property
    def decided(self) -> int:
        return self.prefer_a + self.prefer_b

    @property
    def b_share(self) -> float:
        return self.prefer_b / self.decided if self.decided else math.nan

    @property
    def p_value(self) -> float:
        """Two-sided exact sign test of A against B over the decided pairs."""
        return sign_test(self.prefer_a, self.prefer_b)


def sign_test(a: int, b: int) -> float:
    """Two-sided exact binomial (p = 1/2) probability of a split at least as uneven as ``a`` : ``b``."""
    n = a + b
    if n == 0:
        return 1.0
    low = min(a, b)
    tail = sum(math.comb(n, k) for k in range(low + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def parse_side(text: str, option: str) -> Side:
    """``NAME=KEY=VALUE;KEY=VALUE`` (the settings may be empty: ``default=``)."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip():
        raise PreferError(f"{option} wants NAME=KEY=VALUE;KEY=VALUE (settings may be empty), got {text!r}")
    return Side(name.strip(), [s.strip() for s in rest.split(";") if s.strip()])


# --------------------------------------------------------------------------------------------- make


def pick_frames(converted: Path, count: int, finder: FaceFinder) -> list[tuple[int, np.ndarray, tuple[int, int, int, int]]]:
    """``count`` (frame, image, head box) spread over the clip: per part, the frame nearest its centre
    with a face (``blind.nearest_faces``)."""
    from pipeline.media.decode import probe

    total = probe(converted).frame_count
    if total < count:
        raise PreferError(f"{converted.name}: {total} frames, fewer than --pairs-per-clip {count}")
    found = nearest_faces(converted, total, count, finder)
    if any(b is None for b in found):
        raise PreferError(f"{converted.name}: a part of the clip has no face found")
    return [(index, image, head_box(box, image.shape[1], image.shape[0])) for index, image, box in found]


def frame_of(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames ``wanted`` of ``path``."""
    return {index: image for index, image in decoded(path) if index in wanted}


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    gap = np.full((CROP_PX, GAP_PX, 3), 128, np.uint8)
    return np.hstack([left, gap, right])


INSTRUCTIONS = """# Which one is the real video frame?

This folder holds {count} images, `{first}.png` to `{last}.png`. Each shows two head crops side by
side, cut from the same frame of a video. Face-swap software processed the frame in both, in two
slightly different ways; treat the task as: which of the two would a viewer more readily take for an
unedited, real video frame? The order of the images and which side is which are shuffled; judge
each image on its own.

Judge by eye (zoom in as you like; do not use detection software). Every cue can go either way,
so look for both: highlights too bright or in the wrong place, or missing where the scene's light
would put them; skin too smooth and waxy, or grainier than the rest of the picture; shading flatter
than the head and neck around it, or harsher; patches too dark or dull, or too pale; colour or
sharpness that steps at the face's edge; eyes, brows, lips and teeth that look painted or smeared.
A side can look different merely for being on the left: compare the same spot on both.

For every image write one line:

- `choice`: `left`, `right`, or `same` when you see no difference that matters
- `confidence`: 1 (a guess) to 5 (certain)
- `evidence`: what differs and why it makes one side look more real (which part of the face, what)

Answer file: a CSV with this header and one row per image (`answers_template.csv` is a start), e.g.

```
pair,choice,confidence,evidence
{first},left,3,"what differs, where"
```

Put quotes around evidence that contains commas. Answer every image.
"""


DIFFER_SHARE = 0.001  # ``--differing``: the share of a crop's pixels that must differ (about 100 of 320 x 320)


def differ(left: np.ndarray, right: np.ndarray, levels: int) -> bool:
    """Whether two crops differ by more than ``levels`` grey levels (any channel) on at least
    ``DIFFER_SHARE`` of their pixels: a difference a judge can be asked about."""
    changed = np.abs(left.astype(np.int16) - right.astype(np.int16)).max(axis=2) > levels
    return float(changed.mean()) >= DIFFER_SHARE


def make(out: Path, clips: Sequence[Path], a: Side, b: Side, per_clip: int, frames: int, seed: int,
         overwrite: bool, differing: int = -1) -> list[Pair]:
    """Convert every clip with both sides' settings, cut the pairs and write the judge's folder and the key.
    ``differing`` >= 0: only pairs whose sides ``differ`` by more than that many grey levels are kept
    (a change that touches some frames only, such as a squeezed eye's lids, would otherwise hand the
    judges mostly identical pairs)."""
    from pipeline.media.atomic import write_image

    missing = [str(c) for c in clips if not Path(c).is_file()]
    if missing:
        raise PreferError(f"no such clip: {missing[0]}")
    pairs_dir, work, key_file = out / "pairs", out / "work", out / "key.json"
    if not overwrite and (key_file.exists() or (pairs_dir.is_dir() and any(pairs_dir.iterdir()))):
        raise PreferError(f"{out} already holds a preference set (use --overwrite to replace it)")
    for old in (pairs_dir, work):  # only what make writes: --out may be a folder with other things in it
        if old.is_dir():
            shutil.rmtree(old)
    key_file.unlink(missing_ok=True)
    pairs_dir.mkdir(parents=True)
    work.mkdir()
    rng = random.Random(f"prefer-{seed}")
    finder = FaceFinder()
    made: list[tuple[Pair, np.ndarray]] = []
    try:
        for clip, name in zip(clips, unique_names(clips)):
            outputs = {}
            for key, side in (("a", a), ("b", b)):
                video = Video(name, str(clip), "fake")
                convert(video, work / f"{name}_{key}.mp4", frames, side.settings, None)
                outputs[key] = Path(video.converted)
            picked = pick_frames(outputs["a"], per_clip, finder)  # A's frames come with the pick
            b_frames = frame_of(outputs["b"], {index for index, _, _ in picked})
            for index, a_frame, box in picked:
                left = rng.choice(("a", "b"))
                right = "b" if left == "a" else "a"
                crops = {"a": cut_head(a_frame, box), "b": cut_head(b_frames[index], box)}
                if differing >= 0 and not differ(crops["a"], crops["b"], differing):
                    continue
                made.append((Pair("", name, index, list(box), left), side_by_side(crops[left], crops[right])))
    finally:
        finder.close()
    if not made:
        shutil.rmtree(work)
        pairs_dir.rmdir()
        raise PreferError(f"no pair's sides differ by more than {differing} grey levels")
    order = list(range(len(made)))
    rng.shuffle(order)
    digits = max(2, len(str(len(made))))
    pairs = []
    for number, at in enumerate(order, 1):
        pair, image = made[at]
        pair.pair = f"{number:0{digits}d}"
        if not write_image(pairs_dir / f"{pair.pair}.png", image):
            raise PreferError(f"cannot write {pairs_dir / pair.pair}.png")
        pairs.append(pair)
    first, last = pairs[0].pair, pairs[-1].pair
    (pairs_dir / "INSTRUCTIONS.md").write_text(INSTRUCTIONS.format(count=len(pairs), first=first, last=last))
    with open(pairs_dir / "answers_template.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pair", "choice", "confidence", "evidence"])
        for pair in pairs:
            writer.writerow([pair.pair, "", "", ""])
    key = {"version": KEY_VERSION, "commit": git_commit(), "seed": seed, "frames": frames, "differing": differing,
           "a": asdict(a), "b": asdict(b), "clips": [str(c) for c in clips],
           "pairs": [asdict(p) for p in sorted(pairs, key=lambda p: p.pair)]}
    key_file.write_text(json.dumps(key, indent=1))
    shutil.rmtree(work)
    return pairs


# --------------------------------------------------------------------------------------------- score


def load_key(out: Path) -> dict:
    path = out / "key.json"
    try:
        key = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PreferError(f"cannot read the key {path}: {error}") from None
    if key.get("version") != KEY_VERSION:
        raise PreferError(f"{path}: not a key this script wrote (version {key.get('version')!r})")
    return key


def read_answers(path: Path) -> list[Answer]:
    """A judge's CSV: one row per pair, choice left/right/same, confidence 1-5."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise PreferError(f"cannot read answers {path}: {error.strerror or error}") from None
    return read_answers_text(text, str(path))


def read_answers_text(text: str, path: str = "answers") -> list[Answer]:
    """``read_answers`` of the CSV's text."""
    rows = list(csv.DictReader(io.StringIO(text)))
    answers = []
    for number, row in enumerate(rows, 2):
        pair = (row.get("pair") or "").strip()
        choice = (row.get("choice") or "").strip().lower()
        if not pair or choice not in CHOICES:
            raise PreferError(f"{path}:{number}: want pair and a choice of {', '.join(CHOICES)}")
        try:
            confidence = int((row.get("confidence") or "0").strip())
        except ValueError:
            raise PreferError(f"{path}:{number}: confidence must be a whole number 1-5") from None
        if not 1 <= confidence <= 5:
            raise PreferError(f"{path}:{number}: confidence must be a whole number 1-5")
        if not pair.isdigit():
            raise PreferError(f"{path}:{number}: pair must be an image's number, got {pair!r}")
        answers.append(Answer(pair, choice, confidence, (row.get("evidence") or "").strip()))
    return answers


def tally(key: dict, answers: Sequence[Answer], judge: str, into: Tally | None = None) -> Tally:
    """Count which side each answer preferred; every pair of the key must be answered once."""
    pairs = {int(p["pair"]): p for p in key["pairs"]}  # "7", "07" and "007" name one image
    seen = [int(a.pair) for a in answers]
    unknown = sorted(set(seen) - set(pairs))
    missing = sorted(set(pairs) - set(seen))
    if unknown or missing or len(seen) != len(set(seen)):
        raise PreferError(f"{judge}: answers must name every pair once (unknown {unknown[:3]}, missing {missing[:3]})")
    result = into or Tally(judge)
    for answer in answers:
        pair = pairs[int(answer.pair)]
        counts = result.per_clip.setdefault(pair["clip"], [0, 0, 0])
        if answer.choice == "same":
            result.same += 1
            counts[2] += 1
            continue
        chosen = pair["left"] if answer.choice == "left" else ("b" if pair["left"] == "a" else "a")
        if chosen == "a":
            result.prefer_a += 1
            counts[0] += 1
        else:
            result.prefer_b += 1
            counts[1] += 1
    return result


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _share(t: Tally) -> str:
    return "-" if not t.decided else f"{t.prefer_b}/{t.decided} ({t.b_share:.0%})"


def report_markdown(key: dict, judges: Sequence[Tally], pooled: Tally, evidence: list[tuple[str, str, str, str]]) -> str:
    a, b = key["a"], key["b"]
    settings = lambda side: " ".join(f"`{s}`" for s in side["settings"]) or "the defaults"  # noqa: E731
    lines = [f"A = **{a['name']}** ({settings(a)}); B = **{b['name']}** ({settings(b)}). {len(key['pairs'])} pairs "
             f"from {len(key['clips'])} clips ({'first %d' % key['frames'] if key.get('frames') else 'all'} frames; key commit "
             f"`{key.get('commit', '?')}`, seed {key.get('seed', '?')}"
             + (f"; only pairs whose sides differ by more than {key['differing']} grey levels on at least "
                f"{DIFFER_SHARE:.1%} of the crop" if key.get("differing", -1) >= 0 else "")
             + "). Each judge saw each pair once, sides shuffled, and chose the one that looks more like a real "
             "frame, or `same`.", ""]
    rows = [(t.judge, t.prefer_a, t.prefer_b, t.same, _share(t), _p(t.p_value)) for t in [*judges, pooled]]
    lines.append(table(["judge", "prefer A", "prefer B", "same", "B of decided", "sign test p"], rows))
    clips = sorted(pooled.per_clip)
    lines.append(table(["clip", "prefer A", "prefer B", "same"], [(c, *pooled.per_clip[c]) for c in clips]))
    lines.append("What the judges wrote (pair, clip, side preferred, evidence):\n")
    lines.append(table(["pair", "clip", "preferred", "evidence"], evidence))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/prefer.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make", help="convert each clip both ways and write the shuffled pairs and their key")
    made.add_argument("--out", required=True, type=Path, help="set folder: pairs/ for the judges, key.json beside it")
    made.add_argument("--a", required=True, help="side A: NAME=KEY=VALUE;KEY=VALUE (settings may be empty)")
    made.add_argument("--b", required=True, help="side B, the same way")
    made.add_argument("--clips", nargs="+", type=Path, help="videos to swap (default: the blind check's fakes, "
                      "the held-out clips)")
    made.add_argument("--pairs-per-clip", type=int, default=3)
    made.add_argument("--frames", type=int, default=120, help="convert only the first N frames (0 = all)")
    made.add_argument("--seed", type=int, default=0)
    made.add_argument("--differing", type=int, default=-1, metavar="LEVELS",
                      help="keep only pairs whose sides differ by more than LEVELS grey levels on at least "
                           f"{DIFFER_SHARE:.1%} of the crop (default: keep every pair)")
    made.add_argument("--overwrite", action="store_true")
    scored = commands.add_parser("score", help="count the judges' preferences against the key")
    scored.add_argument("--out", required=True, type=Path)
    scored.add_argument("--answers", required=True, nargs="+", type=Path, help="one CSV per judge")
    scored.add_argument("--judge", nargs="*", default=[], help="a name per answers file")
    add_options(scored, "prefer")
    args = parser.parse_args(argv)
    try:
        if args.command == "make":
            if args.pairs_per_clip < 1 or args.frames < 0:
                parser.error("--pairs-per-clip must be at least 1 and --frames at least 0")
            pairs = make(args.out, args.clips or list(DEFAULT_FAKES), parse_side(args.a, "--a"),
                         parse_side(args.b, "--b"), args.pairs_per_clip, args.frames, args.seed, args.overwrite,
                         args.differing)
            print(f"{len(pairs)} pairs; judges' folder: {args.out / 'pairs'}  (hand over only this)")
            print(f"key: {args.out / 'key.json'}  (keep it from the judges)")
            return 0
        return _score(args)
    except PreferError as error:
        print(f"bench/prefer.py: error: {error}", file=sys.stderr)
        return 2


def _score(args: argparse.Namespace) -> int:
    run = begin_run(args)
    key = load_key(args.out)
    names = list(args.judge) + [f"judge {i + 1}" for i in range(len(args.judge), len(args.answers))]
    pooled = Tally("all judges")
    judges, evidence = [], []
    pairs = {int(p["pair"]): p for p in key["pairs"]}
    for path, name in zip(args.answers, names):
        answers = read_answers(path)
        judges.append(tally(key, answers, name))
        tally(key, answers, name, pooled)
        for answer in answers:
            pair = pairs[int(answer.pair)]
            side = "same" if answer.choice == "same" else (
                pair["left"] if answer.choice == "left" else ("b" if pair["left"] == "a" else "a"))
            label = "same" if side == "same" else key[side]["name"]
            evidence.append((pair["pair"], pair["clip"], f"{label} ({answer.confidence})", answer.evidence or "-"))
    for t in [*judges, pooled]:
        print(f"{t.judge}: prefer A ({key['a']['name']}) {t.prefer_a}, B ({key['b']['name']}) {t.prefer_b}, "
              f"same {t.same}; B of decided {_share(t)}, sign test p {_p(t.p_value)}")
    publish(args, run, report_markdown(key, judges, pooled, sorted(evidence)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
