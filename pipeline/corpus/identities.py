"""Inputs, identities, numbering, identity-disjoint splits and (target, source) pairs.

- Every video is its own identity unless an identities CSV (``video,identity``) groups them.
- Videos are numbered ``000``, ``001``... in file-name order, as FF++ numbers its originals.
- Splits are by identity (DeeperForensics' rule, stricter than FF++'s by-video split): identities are
  shuffled with the seed and cut by the ratios; with three or more identities every split gets one.
- Each target gets a source video of another identity, drawn with the seed, from the target's own split
  when that split has another identity (so a split's fakes show only that split's people), else from
  the whole corpus (recorded in the manifest as the source's split).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
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


def split_identities(identities: list[str], ratios: list[float], seed: int) -> dict[str, str]:
    """identity -> split name; disjoint by construction."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise FacepipeError(f"corpus.splits = {ratios}: give three non-negative train/val/test fractions")
    names = sorted(set(identities))
    random.Random(f"splits:{seed}").shuffle(names)
    total = sum(ratios)
    counts = [int(round(len(names) * r / total)) for r in ratios]
    if len(names) >= 3:
        for i in range(3):
            if ratios[i] > 0 and counts[i] == 0:
                counts[i] = 1
    while sum(counts) > len(names):
        counts[counts.index(max(counts))] -= 1
    counts[0] += len(names) - sum(counts)
    out: dict[str, str] = {}
    start = 0
    for split, count in zip(SPLITS, counts):
        for name in names[start:start + count]:
            out[name] = split
        start += count
    return out


def make_pairs(videos: list[Video], split_of: dict[str, str], seed: int) -> list[tuple[Video, Video]]:
    """One (target, source) per target video, the source of another identity."""
    draw = random.Random(f"pairs:{seed}")
    pairs = []
    for target in videos:
        others = [v for v in videos if v.identity != target.identity]
        same_split = [v for v in others if split_of[v.identity] == split_of[target.identity]]
        pairs.append((target, draw.choice(same_split or others)))
    return pairs
