"""Reading facesets written by ``facepipe extract`` into memory for training.

The format itself (``DIR/faces/*.png`` BGRA crops plus ``DIR/alignments.json``) is defined and listed
by ``pipeline.media.faceset``; this module only loads the crops. Crops are resized once to the model resolution and kept as uint8,
so even thousands of faces fit in memory and a batch is just an index. The hold-out split takes the
*last* frames of each clip, not random ones, so held-out faces are not near-duplicates of neighbouring
training frames.
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


def load_faceset(dirs: list[str | Path], resolution: int, holdout: float = 0.0) -> Faceset:
    """Read every crop in ``dirs``; the last ``holdout`` fraction of each clip's frames is held out."""
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
    train: list[np.ndarray] = []
    held: list[np.ndarray] = []
    clips: dict[str, int] = {}
    for key, items in by_clip.items():
        items.sort()
        n_held = int(round(len(items) * holdout)) if holdout > 0 else 0
        n_held = min(n_held, len(items) - 1)
        for j, (_, path) in enumerate(items):
            (held if j >= len(items) - n_held else train).append(_read(path, resolution))
        clips[key.split("::", 1)[1] or Path(key.split("::", 1)[0]).name] = len(items)
    empty = np.zeros((0, resolution, resolution, 4), np.uint8)
    return Faceset(np.stack(train), np.stack(held) if held else empty, [str(d) for d in dirs], clips, align)
