"""Inputs, identities, numbering, identity-disjoint splits and (target, source) pairs.

- Every video is its own identity unless an identities CSV (``video,identity``) groups them.
- Videos are numbered ``000``, ``001``... in file-name order, as FF++ numbers its originals.
- Splits are by identity (DeeperForensics' rule, stricter than FF++'s by-video split): identities are
  shuffled with the seed and cut by the ratios.
- A fake's target and source are two identities of one split (FF++'s pair splits), so no person is
  seen in two splits, not even as a source. Every split in use therefore needs at least
  ``MIN_PER_SPLIT`` identities; a corpus with too few is refused, or, with ``fold``, its smallest
  splits are folded into the largest one and the folding recorded (``SplitPlan.record``). A source is
  never borrowed from another split.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.errors import FacepipeError
from pipeline.media.paths import inside

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Video:
    number: str  # "000"
    path: str
    identity: str


def find_videos(folder: str | Path, identities_csv: str | Path | None = None,
                warn: Callable[[str], None] | None = None) -> list[Video]:
    """The numbered videos of ``folder`` with their identities; ``warn`` hears of CSV rows naming no video
    there (a typo would otherwise silently make that video its own identity)."""
    root = Path(folder)
    if not root.is_dir():
        raise FacepipeError(f"real-videos folder not found: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    mapping = read_identities(identities_csv) if identities_csv else {}
    for name in mapping:  # a name, not a path: inputs are often symlinks to elsewhere, so no resolving
        inside(root, name, str(identities_csv), follow_links=False)
    names = {p.name for p in files} | {p.stem for p in files}
    missing = [name for name in mapping if name not in names]
    if missing and warn is not None:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warn(f"{identities_csv}: {len(missing)} row(s) name no video in {root}: {shown}")
    videos = []
    for number, path in enumerate(files):
        identity = mapping.get(path.name) or mapping.get(path.stem) or path.stem
        videos.append(Video(f"{number:03d}", str(path.absolute()), identity))
    if len({v.identity for v in videos}) < 2:
        raise FacepipeError(f"{root}: a corpus needs videos of at least 2 identities, found "
                            f"{len({v.identity for v in videos})} ({len(videos)} videos)")
    return videos


def read_identities(path: str | Path) -> dict[str, str]:
    """``video,identity`` rows (a header row is allowed); video is a file name or stem."""
    try:
        rows = list(csv.reader(Path(path).read_text().splitlines()))
    except OSError as exc:
        raise FacepipeError(f"cannot read identities file {path}: {exc.strerror}") from None
    mapping = {}
    for number, row in enumerate(rows, 1):
        if not row or (number == 1 and [c.strip().lower() for c in row[:2]] == ["video", "identity"]):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise FacepipeError(f"{path}:{number}: expected 'video,identity'")
        mapping[row[0].strip()] = row[1].strip()
    return mapping


MIN_PER_SPLIT = 2  # a target and a source of another identity


@dataclass(frozen=True)
class SplitPlan:
    """identity -> split, and which splits were folded into which (empty unless folding was asked for)."""

    split_of: dict[str, str]
    folded: dict[str, str] = field(default_factory=dict)
    ratios: tuple[float, ...] = ()

    def record(self) -> dict[str, object]:
        """What the corpus keeps of the plan (``.facepipe/plan.json``), so readers see a folded split."""
        counts = {name: sum(1 for s in self.split_of.values() if s == name) for name in SPLITS}
        return {"ratios": list(self.ratios), "identities": counts, "folded": dict(self.folded),
                "min_per_split": MIN_PER_SPLIT}


def _check_ratios(ratios: list[float]) -> None:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise FacepipeError(f"corpus.splits = {ratios}: give three non-negative train/val/test fractions")


def plan_splits(identities: list[str], ratios: list[float], seed: int, fold: bool = False) -> SplitPlan:
    """Cut the identities into splits of ``MIN_PER_SPLIT`` or more each, so every target has a source of
    its own split; too few identities: a one-line refusal, or with ``fold`` the smallest splits (val
    first, then test) are folded into the largest."""
    _check_ratios(ratios)
    names = sorted(set(identities))
    if len(names) < MIN_PER_SPLIT:
        raise FacepipeError(f"a corpus needs at least {MIN_PER_SPLIT} identities, found {len(names)}")
    random.Random(f"splits:{seed}").shuffle(names)
    share = list(ratios)
    used = [i for i in range(3) if share[i] > 0]
    folded: dict[str, str] = {}
    if len(names) < MIN_PER_SPLIT * len(used):
        wanted = ", ".join(SPLITS[i] for i in used)
        if not fold:
            raise FacepipeError(
                f"{len(names)} identities are too few for the splits {wanted} (corpus.splits = {list(ratios)}): "
                f"a fake's source and target are two people of its split, so each split needs {MIN_PER_SPLIT} "
                f"identities, {MIN_PER_SPLIT * len(used)} in all; add people, drop a split in corpus.splits, "
                f"or fold the small splits with --fold-splits (corpus.fold_splits = true)")
        drop_order = sorted(used, key=lambda i: (share[i], (1, 2, 0).index(i)))  # smallest first; val before test
        while len(names) < MIN_PER_SPLIT * len(used):
            gone = drop_order.pop(0)
            used.remove(gone)
            into = max(used, key=lambda i: (share[i], -i))
            share[into] += share[gone]
            share[gone] = 0.0
            folded[SPLITS[gone]] = SPLITS[into]
        for name, into in folded.items():  # val -> test -> train ends as val -> train
            while into in folded:
                into = folded[into]
            folded[name] = into
    total = sum(share)
    counts = [max(MIN_PER_SPLIT, int(round(len(names) * share[i] / total))) if i in used else 0 for i in range(3)]
    while sum(counts) > len(names):  # always possible: len(names) >= MIN_PER_SPLIT * len(used)
        largest = max((i for i in used if counts[i] > MIN_PER_SPLIT), key=lambda i: (counts[i], -i))
        counts[largest] -= 1
    counts[max(used, key=lambda i: (share[i], -i))] += len(names) - sum(counts)
    out: dict[str, str] = {}
    start = 0
    for split, count in zip(SPLITS, counts):
        for name in names[start:start + count]:
            out[name] = split
        start += count
    return SplitPlan(out, folded, tuple(ratios))


def split_identities(identities: list[str], ratios: list[float], seed: int, fold: bool = False) -> dict[str, str]:
    """identity -> split name; disjoint by construction (``plan_splits`` without the record)."""
    return plan_splits(identities, ratios, seed, fold).split_of


def make_pairs(videos: list[Video], split_of: dict[str, str], seed: int) -> list[tuple[Video, Video]]:
    """One (target, source) per target video, the source of another identity of the target's split; a
    split without a second identity is refused, never filled from another split (that would leak)."""
    draw = random.Random(f"pairs:{seed}")
    pairs = []
    for target in videos:
        split = split_of[target.identity]
        same_split = [v for v in videos if v.identity != target.identity and split_of[v.identity] == split]
        if not same_split:
            raise FacepipeError(f"split {split} has no identity but {target.identity}: no source for "
                                f"{Path(target.path).name} without borrowing one from another split")
        pairs.append((target, draw.choice(same_split)))
    return pairs
