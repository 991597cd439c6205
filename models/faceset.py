"""Reading facesets written by ``facepipe extract`` into memory for training.

The format itself (``DIR/faces/*.png`` BGRA crops plus ``DIR/alignments.json``) is defined and listed
by ``pipeline.media.faceset``; this module only loads the crops. Crops are resized once to the model
resolution and kept as uint8, so even thousands of faces fit in memory and a batch is just an index.

Held-out figures are only worth something when the held-out faces are not the training faces again:
- Duplicates go first. The same footage extracted from two files (a re-encode, a cut of it) gives
  crops that differ by compression noise; a crop within ``DEDUPE_PSNR`` (35 dB) of a kept crop of
  another clip is dropped, so that footage counts once.
- The hold-out is a contiguous block at the end of each clip with a gap of frames before it that is
  used nowhere (``train.holdout_gap``), or whole clips (``train.holdout_by = "clip"``), never random
  frames next to training ones; and no training crop lies within 35 dB of a held-out one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.faceset_data import Faceset
from models.faceset_pack import load_pack
from pipeline.errors import FacepipeError
from pipeline.media.faceset import list_faces


def _read(path: Path, size: int, landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One crop as BGRA uint8 at ``size`` (a crop without alpha gets a centred ellipse), and its
    landmarks moved from the file's own pixels to ``size`` ((68, 2) float32, NaN when unknown)."""
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
    points = np.full((68, 2), np.nan, np.float32)
    if landmarks is not None and np.shape(landmarks) == (68, 2):
        points = (np.asarray(landmarks, np.float32) * (size / float(img.shape[0]))).astype(np.float32)
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp), points


DEDUPE_PSNR = 35.0  # dB: crops closer than this count once (re-encodes and near-still frames)
PACK_SUFFIX = ".npz"  # a faceset pack (models.faceset_pack) instead of a faceset folder


def _thumbs(pixels: np.ndarray) -> np.ndarray:
    """8x8 block means (float64, flattened); the full pixels when the size does not divide by 8."""
    n, h, w = pixels.shape[:3]
    if h % 8 == 0 and w % 8 == 0:
        return pixels.reshape(n, 8, h // 8, 8, w // 8, 3).mean(axis=(2, 4), dtype=np.float64).reshape(n, -1)
    return pixels.reshape(n, -1).astype(np.float64)


def within_psnr(a: np.ndarray, b: np.ndarray, min_psnr: float) -> np.ndarray:
    """(len(a), len(b)) bool: crop pairs whose BGR pixels lie within ``min_psnr`` dB of each other.

    Exact, and cheap for thousands of crops: the mean squared error of 8x8 block means never exceeds
    the full one (Jensen), so only pairs whose thumbnails are that close are compared in full.
    """
    close = np.zeros((len(a), len(b)), bool)
    if not len(a) or not len(b) or min_psnr <= 0:
        return close
    limit = 255.0**2 / 10 ** (min_psnr / 10)  # the largest MSE that still counts as "the same"
    pa, pb = a[..., :3], b[..., :3]
    ta, tb = _thumbs(pa), _thumbs(pb)
    na, nb = (ta**2).sum(axis=1), (tb**2).sum(axis=1)
    for start in range(0, len(a), 512):
        mse = (na[start:start + 512, None] + nb[None, :] - 2 * ta[start:start + 512] @ tb.T) / ta.shape[1]
        for i, j in zip(*np.nonzero(mse <= limit * 1.001 + 1e-6)):
            i += start
            close[i, j] = np.mean((pa[i].astype(np.float32) - pb[j].astype(np.float32)) ** 2) <= limit
    return close


def drop_duplicates(crops: np.ndarray, clips: list[str], min_psnr: float = DEDUPE_PSNR) -> np.ndarray:
    """Indices of the crops to keep, in order: a crop is dropped when it lies within ``min_psnr`` dB
    of a kept crop of *another* clip (the same footage in two files). Neighbouring frames of one clip
    stay: they are real, if similar, training samples; the hold-out keeps them apart from held-out
    faces instead. ``min_psnr`` <= 0 keeps everything.
    """
    close = within_psnr(crops, crops, min_psnr)
    keep = np.ones(len(crops), bool)
    for i in range(len(crops)):
        if keep[i]:
            for j in np.nonzero(close[i, i + 1:])[0] + i + 1:
                if clips[j] != clips[i]:
                    keep[j] = False
    return np.nonzero(keep)[0]


def load_faceset(dirs: list[str | Path], resolution: int, holdout: float = 0.0, gap: int = 0,
                 by: str = "time", dedupe_psnr: float = DEDUPE_PSNR, occlusion: bool = False) -> Faceset:
    """Read every crop in ``dirs``, drop duplicates by content, and split off held-out faces.

    Duplicates: a crop within ``dedupe_psnr`` dB of a kept crop of another clip is dropped.
    ``by="time"``: the last ``holdout`` fraction of each clip's faces is held out as one contiguous
    block, and the ``gap`` frames before it are used nowhere, so no training frame sits next to a
    held-out one. ``by="clip"``: whole clips (the last ones listed) are held out, about ``holdout`` of
    the faces; needs two or more clips with faces left after de-duplication. Either way, a training
    crop within ``dedupe_psnr`` dB of a held-out crop is left out too (counted in ``gap_faces``).
    A ``.npz`` faceset pack (``models.faceset_pack``) is read as it was split and masked when packed.
    ``occlusion``: take what covers the face out of each crop's mask (:func:`mask_occluders`).
    """
    packs = [d for d in dirs if Path(d).suffix == PACK_SUFFIX]
    if packs:
        if len(dirs) > 1:
            raise FacepipeError(f"a faceset pack ({packs[0]}) is one identity's whole training set: give it alone")
        if not Path(packs[0]).is_file():
            raise FacepipeError(f"faceset pack not found: {packs[0]}")
        return load_pack(packs[0], resolution)  # split and masked when packed: those settings are not applied again
    by_clip: dict[str, list[tuple[int, Path]]] = {}
    marks: dict[Path, np.ndarray | None] = {}  # landmarks in the crop file's pixels
    align: dict = {}
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise FacepipeError(f"faceset not found: {root}")
        entries, align_here = list_faces(root)
        align = align or align_here
        for entry in entries:
            by_clip.setdefault(f"{root}::{entry.clip}", []).append((entry.frame, entry.path))
            marks[entry.path] = entry.landmarks
    total = sum(len(v) for v in by_clip.values())
    if total < 2:
        raise FacepipeError(f"faceset {', '.join(map(str, dirs))}: needs at least 2 face crops, found {total}")
    order = [(key, frame, path) for key, items in by_clip.items() for frame, path in sorted(items)]
    read = [_read(path, resolution, marks.get(path)) for _, _, path in order]
    crops = np.stack([crop for crop, _ in read])
    points = np.stack([landmarks for _, landmarks in read])
    if occlusion:
        crops = mask_occluders(crops)
    kept = drop_duplicates(crops, [key for key, _, _ in order], dedupe_psnr)
    clips_kept: dict[str, list[tuple[int, int]]] = {}  # clip -> (frame, row in crops)
    for row in kept:
        key, frame, _ = order[row]
        clips_kept.setdefault(key, []).append((frame, int(row)))
    train_rows, held_rows, gap_faces = _split(clips_kept, holdout, gap, by)
    if held_rows and dedupe_psnr > 0:  # a still face can outlast any gap: keep its look-alikes out of training
        near = within_psnr(crops[train_rows], crops[held_rows], dedupe_psnr).any(axis=1)
        train_rows = [row for row, close in zip(train_rows, near) if not close]
        gap_faces += int(near.sum())
    if not train_rows:
        raise FacepipeError(f"faceset {', '.join(map(str, dirs))}: no face left for training after the hold-out "
                            f"(holdout {holdout}, gap {gap} frames); lower train.holdout or train.holdout_gap")
    clips = {key.split("::", 1)[1] or Path(key.split("::", 1)[0]).name: len(items) for key, items in clips_kept.items()}
    empty = np.zeros((0, resolution, resolution, 4), np.uint8)
    return Faceset(crops[train_rows], crops[held_rows] if held_rows else empty, [str(d) for d in dirs], clips, align,
                   duplicates=len(order) - len(kept), gap_faces=gap_faces, split=by,
                   train_landmarks=points[train_rows], held_landmarks=points[held_rows] if held_rows else None,
                   prepared={"holdout": holdout, "holdout_by": by, "holdout_gap": gap, "dedupe_psnr": dedupe_psnr,
                             "occlusion_mask": occlusion})


def mask_occluders(crops: np.ndarray, batch: int = 128) -> np.ndarray:
    """Crops whose alpha no longer covers hands, fingers or objects in front of the face.

    Why: the extract mask is the landmark hull, which runs under a hand as if it were not there. A
    decoder trained to rebuild the hull then learns to paint the hand (the A decoder painted fingers
    over B's mouth in every B->A swap); masked by the bundled occlusion segmenter (DeepFaceLab trains
    on XSeg masks for the same reason), the hand is neither learned nor asked for, and the mask the
    generator learns leaves it out.
    """
    from models.segmenter import BUNDLED_SEGMENTER, Segmenter

    if not BUNDLED_SEGMENTER.is_file():
        raise FacepipeError(f"train.occlusion_mask needs the occlusion segmenter ({BUNDLED_SEGMENTER}); restore it "
                            f"from the repository or set train.occlusion_mask = false")
    segmenter = Segmenter(BUNDLED_SEGMENTER, "cpu")
    out = crops.copy()
    for start in range(0, len(crops), batch):
        chunk = list(crops[start:start + batch])
        for i, visible in enumerate(segmenter(chunk)):
            alpha = out[start + i, ..., 3].astype(np.float32)
            out[start + i, ..., 3] = np.clip(np.minimum(alpha, visible * 255.0) + 0.5, 0, 255).astype(np.uint8)
    return out


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
