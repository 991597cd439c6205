"""A prepared training set in one file: crops at the model resolution, landmarks and the split.

Why: a faceset is hundreds of 256-px PNGs (70-100 MB per identity), too much to carry to a GPU
machine with a transfer limit, and reading and de-duplicating them is work best done once.
``facepipe train --pack-to DIR`` writes what training reads, after de-duplication and the hold-out
split, as ``DIR/a.npz`` and ``DIR/b.npz`` (DeepFaceLab's faceset.pak plays the same part); ``facepipe
train --faces-a DIR/a.npz`` reads one back. Colour is stored as JPEG (quality 95: the crops come from
compressed video already), the mask as PNG, so a 128-px identity of 900 faces is about 7 MB.

The file is a plain ``.npz`` of byte and number arrays read with ``allow_pickle=False``: like the
model files, nothing in it can execute code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np

from models.faceset_data import Faceset
from pipeline.errors import FacepipeError
from pipeline.media.atomic import atomic_path

PACK_FORMAT = "facepipe-faceset-pack"


def _encode(images: list[np.ndarray], ext: str, params: list[int]) -> tuple[np.ndarray, np.ndarray]:
    blobs = []
    for image in images:
        ok, data = cv2.imencode(ext, image, params)
        if not ok:
            raise FacepipeError(f"could not encode a face crop as {ext}")
        blobs.append(data.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), offsets


def _decode(data: np.ndarray, offsets: np.ndarray, flags: int) -> list[np.ndarray]:
    return [cv2.imdecode(data[offsets[i]:offsets[i + 1]], flags) for i in range(len(offsets) - 1)]


def save_pack(faceset: Faceset, path: str | Path, quality: int = 95) -> None:
    """Write ``faceset`` (train and held-out crops, landmarks, provenance) to ``path`` atomically."""
    crops = np.concatenate([faceset.train, faceset.held])
    colour, colour_at = _encode([c[..., :3] for c in crops], ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    alpha, alpha_at = _encode([c[..., 3] for c in crops], ".png", [cv2.IMWRITE_PNG_COMPRESSION, 9])
    meta = {"format": PACK_FORMAT, "version": 1, "resolution": int(crops.shape[1]) if len(crops) else 0,
            "sources": faceset.sources, "clips": faceset.clips, "align": faceset.align, "duplicates": faceset.duplicates,
            "gap_faces": faceset.gap_faces, "split": faceset.split, "prepared": faceset.prepared}
    arrays = {"colour": colour, "colour_at": colour_at, "alpha": alpha, "alpha_at": alpha_at,
              "landmarks": np.concatenate([faceset.train_landmarks, faceset.held_landmarks]).astype(np.float32),
              "held": np.r_[np.zeros(len(faceset.train), bool), np.ones(len(faceset.held), bool)],
              "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temp:
        with open(temp, "wb") as f:  # a file object: np.savez would append .npz to the temporary name
            np.savez(f, **arrays)


def load_pack(path: str | Path, resolution: int) -> Faceset:
    """Read a pack, resized to ``resolution`` when it was written at another; one-line errors."""
    try:
        with np.load(str(path), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(arrays["meta"].tobytes().decode())
        if meta.get("format") != PACK_FORMAT:
            raise ValueError("not a facepipe faceset pack")
        colour = _decode(arrays["colour"], arrays["colour_at"], cv2.IMREAD_COLOR)
        alpha = _decode(arrays["alpha"], arrays["alpha_at"], cv2.IMREAD_GRAYSCALE)
        held, landmarks = arrays["held"].astype(bool), arrays["landmarks"].astype(np.float32)
        if len(landmarks) != len(held) or landmarks.shape[1:] != (68, 2):
            raise ValueError("landmarks do not match the crops")
    except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError, EOFError, zipfile.BadZipFile, cv2.error) as exc:
        raise FacepipeError(f"{path}: not a readable faceset pack ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if any(c is None for c in colour) or any(a is None for a in alpha) or not (len(colour) == len(alpha) == len(held)) \
            or len({c.shape[:2] for c in colour} | {a.shape[:2] for a in alpha}) > 1:
        raise FacepipeError(f"{path}: faceset pack is damaged (a crop does not decode)")
    crops = np.stack([np.dstack([c, a]) for c, a in zip(colour, alpha)]) if colour else np.zeros((0, resolution, resolution, 4), np.uint8)
    if len(crops) and crops.shape[1] != resolution:
        interp = cv2.INTER_AREA if crops.shape[1] > resolution else cv2.INTER_CUBIC
        landmarks = landmarks * (resolution / crops.shape[1])
        crops = np.stack([cv2.resize(c, (resolution, resolution), interpolation=interp) for c in crops])
    return Faceset(crops[~held], crops[held], [str(path)], dict(meta.get("clips", {})), dict(meta.get("align", {})),
                   duplicates=int(meta.get("duplicates", 0)), gap_faces=int(meta.get("gap_faces", 0)),
                   split=str(meta.get("split", "time")), train_landmarks=landmarks[~held], held_landmarks=landmarks[held],
                   prepared={**dict(meta.get("prepared", {})), "pack": str(path)})
