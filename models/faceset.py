"""Reading facesets written by ``facepipe extract`` into memory for training.

A faceset is ``DIR/faces/<video-stem>_<frame:06d>_<track>.png`` (BGRA aligned crops, alpha = face
mask) plus ``DIR/alignments.json``. Crops are resized once to the model resolution and kept as uint8,
so even thousands of faces fit in memory and a batch is just an index. The hold-out split takes the
*last* frames of each clip, not random ones, so held-out faces are not near-duplicates of neighbouring
training frames.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import FacepipeError

_NAME = re.compile(r"^(?P<stem>.+)_(?P<frame>\d{6})_(?P<track>-?\d+)$")


@dataclass
class Faceset:
    """Crops of one identity: ``train``/``held`` are (N,R,R,4) uint8 BGRA at the model resolution."""

    train: np.ndarray
    held: np.ndarray
    sources: list[str] = field(default_factory=list)  # faceset directories
    clips: dict[str, int] = field(default_factory=dict)  # video stem -> faces used
    align: dict = field(default_factory=dict)  # the faceset's alignment settings, for the model card


def _entries(root: Path) -> tuple[list[tuple[str, int, Path]], dict]:
    """(clip stem, frame, png path) for each face in one faceset directory."""
    meta = root / "alignments.json"
    align: dict = {}
    paths: list[Path] = []
    if meta.is_file():
        try:
            doc = json.loads(meta.read_text())
            align = doc.get("align", {}) if isinstance(doc, dict) else {}
            paths = [root / f["file"] for f in doc.get("faces", []) if isinstance(f, dict) and "file" in f]
        except (json.JSONDecodeError, AttributeError, TypeError):
            raise FacepipeError(f"{meta}: not a valid alignments file") from None
    if not paths:
        folder = root / "faces" if (root / "faces").is_dir() else root
        paths = sorted(folder.glob("*.png"))
    result = []
    for i, path in enumerate(paths):
        m = _NAME.match(path.stem)
        stem, frame = (m["stem"], int(m["frame"])) if m else ("", i)
        result.append((stem, frame, path))
    return result, align


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
        entries, align_here = _entries(root)
        align = align or align_here
        for stem, frame, path in entries:
            by_clip.setdefault(f"{root}::{stem}", []).append((frame, path))
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
