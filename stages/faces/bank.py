"""A bank of one person's aligned faces (``swap.face``), built once from a video or photos and cached.

Why a bank: the retrieval swap (``swap.method = "bank"``) paints each target face with the face of
the bank whose expression and pose match it best, so it needs that person's faces framed exactly as
the run frames its own: aligned crops cut with the align stage's template and coverage, their 68
landmarks in crop coordinates, and their descriptors (``bank_match``). (The warp takes landmarks to
landmarks, so a run with another ``align.size`` or ``align.coverage`` is painted all the same.) The faces are found by the
project's own detect, landmarks and align stages; they live on a higher floor, so the caller hands
them in (``make_stages``).

Why a cache keyed by content: finding ~600 faces costs half a minute, and the same person is used
for many runs. The key hashes the bytes of the inputs (not their names or dates: a copied or touched
file is the same bank, an edited one is not), the settings that shape the bank and ``BANK_FORMAT``.
The file is written atomically (``pipeline.media.atomic``), so an interrupted build leaves nothing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.io import NullSink, Source
from pipeline.media.atomic import write_bytes
from pipeline.media.kinds import is_image, is_video
from pipeline.stage import Stage, StageContext
from pipeline.videoinfo import VideoInfo
from stages.faces.bank_match import Descriptors, describe
from stages.faces.geometry import transform

BANK_FORMAT = "facepipe-bank-v1"  # bump when what a bank file holds, or how it is made, changes
MakeStages = Callable[[VideoInfo], tuple[list[Stage], list[StageContext]]]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/facepipe/banks`` (``~/.cache/facepipe/banks`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facepipe" / "banks"


@dataclass(frozen=True)
class BankSpec:
    """What a bank is made of: the inputs, how they are sampled, and the key of its cache file."""

    face: str  # as the user gave it (messages)
    kind: str  # "video" or "photos"
    files: tuple[str, ...]
    every: int  # every Nth frame of a video (more when it is long: at most ``max_faces`` frames)
    max_faces: int
    key: str

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.key}.npz"


@dataclass
class FaceBank:
    """One person's faces: crops (N, S, S, 3) BGR uint8, landmarks (N, 68, 2) in crop pixels,
    their descriptors, and which source frame (or photo) each came from."""

    crops: np.ndarray
    landmarks: np.ndarray
    descriptors: Descriptors
    frames: np.ndarray
    kind: str
    source: str

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, modified: int) -> str:
    """BLAKE2 of a file's bytes; remembered per (path, size, mtime) so a run hashes each input once."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(path: str | Path) -> str:
    stat = os.stat(path)
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def bank_inputs(face: str) -> tuple[str, list[Path]]:
    """("video", [file]) or ("photos", [files]) for ``swap.face``; a one-line error for anything else."""
    path = Path(face).expanduser()
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
        if not photos:
            raise FacepipeError(f"swap.face = {face!r}: no photos in this folder (.jpg, .png, .webp, ...)")
        return "photos", photos
    if not path.is_file():
        raise FacepipeError(f"swap.face = {face!r}: no such file or folder")
    if is_image(path):
        return "photos", [path]
    if not is_video(path):
        raise FacepipeError(f"swap.face = {face!r}: not a video or a photo; give a video or a folder of photos "
                            "of the person to paint in")
    return "video", [path]


def bank_spec(face: str, every: int, max_faces: int, recipe: str) -> BankSpec:
    """The spec of the bank ``face`` makes; ``recipe`` names the face-stage settings that build it."""
    kind, files = bank_inputs(face)
    key_parts = {"format": BANK_FORMAT, "kind": kind, "every": every, "max_faces": max_faces, "recipe": recipe,
                 "inputs": [content_digest(p) for p in files]}
    key = hashlib.blake2b(json.dumps(key_parts, sort_keys=True).encode(), digest_size=16).hexdigest()
    return BankSpec(face, kind, tuple(str(p) for p in files), every, max_faces, key)


def load_cached(spec: BankSpec) -> FaceBank | None:
    """The cached bank of ``spec``, or None when there is none (or it cannot be read: it is rebuilt)."""
    path = spec.path
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            info = json.loads(str(data["info"]))
            return FaceBank(data["crops"], data["landmarks"], Descriptors(data["expression"], data["pose"], data["neutral"]),
                            data["frames"], info["kind"], info["source"])
    except (OSError, ValueError, KeyError):
        return None


def save_bank(bank: FaceBank, path: Path) -> None:
    """One uncompressed ``.npz`` (a load is a read, not a decompression), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    info = json.dumps({"format": BANK_FORMAT, "kind": bank.kind, "source": bank.source})
    np.savez(buffer, crops=bank.crops, landmarks=bank.landmarks, expression=bank.descriptors.expression,
             pose=bank.descriptors.pose, neutral=bank.descriptors.neutral, frames=bank.frames, info=np.array(info))
    write_bytes(path, buffer.getvalue())


@dataclass
class BankSource:
    """The frames a bank is built from, opened: ``frames`` is how many will arrive (the progress total)."""

    source: Source
    info: VideoInfo
    frames: int


def open_bank_source(spec: BankSpec) -> BankSource:
    """Photos as they are; a video's every Nth frame, N raised so at most ``max_faces`` frames are read."""
    from pipeline.media.decode import FileSource
    from pipeline.media.images import EveryNth, ImageSource

    if spec.kind == "photos":
        photos = ImageSource([Path(p) for p in spec.files], spec.face)
        return BankSource(photos, photos.open(), len(spec.files))
    video = FileSource(spec.files[0])
    info = video.open()
    count = max(1, info.frame_count)
    step = max(spec.every, math.ceil(count / max(1, spec.max_faces)))
    return BankSource(EveryNth(video, step), info, math.ceil(count / step))


class _Collect(NullSink):
    """A sink that keeps the largest aligned face of each frame, in crop coordinates."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []
        self.frames: list[int] = []

    def write(self, frame: Frame) -> None:
        faces = [f for f in frame.faces if f.crop is not None and f.matrix is not None and f.landmarks is not None]
        if not faces:
            return
        face = max(faces, key=lambda f: f.width * f.height)
        self.crops.append(np.ascontiguousarray(face.crop[..., :3]))
        self.landmarks.append(transform(face.landmarks, face.matrix).astype(np.float32))
        self.frames.append(int(frame.meta.get("source_frame", frame.index)))


def build_bank(spec: BankSpec, opened: BankSource, make_stages: MakeStages,
               on_frame: Callable[[Any], None] | None = None) -> FaceBank:
    """Find the faces of ``opened`` with the stages ``make_stages`` builds, describe them, cache the bank."""
    from pipeline.runner import Runner

    stages, contexts = make_stages(opened.info)
    sink = _Collect()
    Runner(opened.source, stages, sink, contexts=contexts, on_frame=on_frame).run()
    if not sink.crops:
        raise FacepipeError(f"swap.face = {spec.face!r}: no face found in {opened.frames} "
                            f"{'photo' if spec.kind == 'photos' else 'frame'}{'s' if opened.frames != 1 else ''}")
    landmarks = np.stack(sink.landmarks)
    bank = FaceBank(np.stack(sink.crops), landmarks, describe(landmarks), np.asarray(sink.frames, np.int32),
                    spec.kind, spec.face)
    save_bank(bank, spec.path)
    return bank
