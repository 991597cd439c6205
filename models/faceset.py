"""Reading facesets written by ``facepipe extract`` into memory for training.

The format itself (``DIR/faces/*.png`` BGRA crops plus ``DIR/alignments.json``) is defined and listed
by ``pipeline.media.faceset``; this module only loads the crops. Crops are resized once to the model
resolution and kept as uint8, so even thousands of faces fit in memory and a batch is just an index.

Held-out figures are only worth something when the held-out faces are not the training faces again:
- Duplicates go first. The same footage extracted from two files (a re-encode, a cut of it) gives
  crops that differ by compression noise; any crop within ``DEDUPE_PSNR`` (35 dB) of one already kept
  is dropped, so no face counts twice, in training or across the split.
- The hold-out is a contiguous block at the end of each clip with a gap of frames before it that is
  used nowhere (``train.holdout_gap``), or whole clips (``train.holdout_by = "clip"``), never random
  frames next to training ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.media.faceset import list_faces


@dataclass
class Faceset:
    """Crops of one identity: ``train``/``held`` are (N,R,R,4) uint8 BGRA at the model resolution."""

    train: np.ndarray
    held: np.ndarray
    sources: list[str] = field(default_factory=list)  # faceset directories
    clips: dict[str, int] = field(default_factory=dict)  # video stem -> faces used
    align: dict = field(default_factory=dict)  # the faceset's alignment settings, for the model card
    duplicates: int = 0  # crops dropped as within DEDUPE_PSNR of another
    gap_faces: int = 0  # faces in the gap before each held-out block: used neither for training nor held out
    split: str = "time"  # how the hold-out was chosen: "time" (block per clip) or "clip" (whole clips)


def _read(path: Path, size: int) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise FacepipeError(f"{path}: not a readable BGR/BGRA face crop")
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8) if img.dtype == np.uint16 else img.astype(np.uint8)
    if img.shape[2] == 3:  # no mask stored: assume the face fills a centred ellipse
        alpha = np.zeros(img.shape[:2], np.uint8)
        h, w = alpha.shape
        cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.38), int(h * 0.46)), 0, 0, 360, 255, -1)
        img = np.dstack([img, alpha])
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp)


DEDUPE_PSNR = 35.0  # dB: crops closer than this count once (re-encodes and near-still frames)


def drop_duplicates(crops: np.ndarray, min_psnr: float = DEDUPE_PSNR) -> np.ndarray:
    """Indices of the crops to keep, in order: a crop is dropped when its BGR pixels lie within
    ``min_psnr`` dB of a crop already kept. ``min_psnr`` <= 0 keeps everything.

    Exact, not approximate, and cheap for thousands of crops: the mean squared error of 8x8 block
    means never exceeds the full one (Jensen), so only pairs whose thumbnails are that close are
    compared in full.
    """
    n = len(crops)
    if n < 2 or min_psnr <= 0:
        return np.arange(n)
    limit = 255.0**2 / 10 ** (min_psnr / 10)  # the largest MSE that still counts as a duplicate
    pixels = crops[..., :3]
    h, w = pixels.shape[1:3]
    if h % 8 == 0 and w % 8 == 0:
        thumbs = pixels.reshape(n, 8, h // 8, 8, w // 8, 3).mean(axis=(2, 4), dtype=np.float64).reshape(n, -1)
    else:
        thumbs = pixels.reshape(n, -1).astype(np.float64)
    norms = (thumbs**2).sum(axis=1)
    keep = np.ones(n, bool)
    block = 512
    candidates: list[list[int]] = [[] for _ in range(n)]
    for start in range(0, n, block):
        rows = thumbs[start:start + block]
        mse = (norms[start:start + block, None] + norms[None, :] - 2 * rows @ thumbs.T) / thumbs.shape[1]
        for offset, row in enumerate(mse):
            i = start + offset
            candidates[i] = [j for j in np.nonzero(row <= limit * 1.001 + 1e-6)[0] if j > i]
    for i in range(n):
        if not keep[i]:
            continue
        for j in candidates[i]:
            if keep[j] and np.mean((pixels[i].astype(np.float32) - pixels[j].astype(np.float32)) ** 2) <= limit:
                keep[j] = False
    return np.nonzero(keep)[0]


def load_faceset(dirs: list[str | Path], resolution: int, holdout: float = 0.0, gap: int = 0,
                 by: str = "time", dedupe_psnr: float = DEDUPE_PSNR) -> Faceset:
    """Read every crop in ``dirs``, drop duplicates by content, and split off held-out faces.

    ``by="time"``: the last ``holdout`` fraction of each clip's faces is held out as one contiguous
    block, and the ``gap`` frames before it are used nowhere, so no training frame sits next to a
    held-out one. ``by="clip"``: whole clips (the last ones listed) are held out, about ``holdout`` of
    the faces; needs two or more clips with faces left after de-duplication.
    """
    by_clip: dict[str, list[tuple[int, Path]]] = {}
    align: dict = {}
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise FacepipeError(f"faceset not found: {root}")
        entries, align_here = list_faces(root)
        align = align or align_here
        for entry in entries:
            by_clip.setdefault(f"{root}::{entry.clip}", []).append((entry.frame, entry.path))
    total = sum(len(v) for v in by_clip.values())
    if total < 2:
        raise FacepipeError(f"faceset {', '.join(map(str, dirs))}: needs at least 2 face crops, found {total}")
    order = [(key, frame, path) for key, items in by_clip.items() for frame, path in sorted(items)]
    crops = np.stack([_read(path, resolution) for _, _, path in order])
    kept = drop_duplicates(crops, dedupe_psnr)
    clips_kept: dict[str, list[tuple[int, int]]] = {}  # clip -> (frame, row in crops)
    for row in kept:
        key, frame, _ = order[row]
        clips_kept.setdefault(key, []).append((frame, int(row)))
    train_rows, held_rows, gap_faces = _split(clips_kept, holdout, gap, by)
    if not train_rows:
        raise FacepipeError(f"faceset {', '.join(map(str, dirs))}: no face left for training after the hold-out "
                            f"(holdout {holdout}, gap {gap} frames); lower train.holdout or train.holdout_gap")
    clips = {key.split("::", 1)[1] or Path(key.split("::", 1)[0]).name: len(items) for key, items in clips_kept.items()}
    empty = np.zeros((0, resolution, resolution, 4), np.uint8)
    return Faceset(crops[train_rows], crops[held_rows] if held_rows else empty, [str(d) for d in dirs], clips, align,
                   duplicates=len(order) - len(kept), gap_faces=gap_faces, split=by)


def _split(clips: dict[str, list[tuple[int, int]]], holdout: float, gap: int, by: str) -> tuple[list[int], list[int], int]:
    """Rows for training and for the hold-out, and how many faces the gap left out."""
    if holdout <= 0:
        return [row for items in clips.values() for _, row in items], [], 0
    if by == "clip":
        if len(clips) < 2:
            raise FacepipeError(f"train.holdout_by = 'clip' needs two or more distinct clips per identity, "
                                f"found {len(clips)}; use 'time'")
        keys, held_keys, held_count = list(clips), [], 0
        total = sum(len(v) for v in clips.values())
        while len(keys) > 1 and held_count < holdout * total:
            key = keys.pop()
            held_keys.append(key)
            held_count += len(clips[key])
        return ([row for k in keys for _, row in clips[k]], [row for k in held_keys for _, row in clips[k]], 0)
    train, held, skipped = [], [], 0
    for items in clips.values():
        n_held = min(int(round(len(items) * holdout)), len(items) - 1)
        if n_held <= 0:
            train += [row for _, row in items]
            continue
        first_held = items[len(items) - n_held][0]
        for frame, row in items[:len(items) - n_held]:
            if first_held - frame > gap:
                train.append(row)
            else:
                skipped += 1
        held += [row for _, row in items[len(items) - n_held:]]
    return train, held, skipped
