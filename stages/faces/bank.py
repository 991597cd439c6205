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
import zipfile
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


FRAMES_PER_INPUT = 1_000_000  # a bank of several videos numbers the frames of its k-th video from k * this


@dataclass
class FaceBank:
    """One person's faces: crops (N, S, S, 3) BGR uint8, landmarks (N, 68, 2) in crop pixels,
    their descriptors, and which source frame (or photo) each came from (the k-th video of several
    from ``k * FRAMES_PER_INPUT``)."""

    crops: np.ndarray
    landmarks: np.ndarray
    descriptors: Descriptors
    frames: np.ndarray
    kind: str
    source: str
    identity: np.ndarray | None = None  # the person's mean dlib embedding (``bank_identity``), when known

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
    """("video", [file]), ("videos", [files]) or ("photos", [files]) for ``swap.face``; a one-line error
    for anything else. A folder holds either photos or videos of the person (several clips make one bank)."""
    path = Path(face).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        photos = [p for p in files if is_image(p)]
        videos = [p for p in files if is_video(p)]
        if photos and videos:
            raise FacepipeError(f"swap.face = {face!r}: the folder holds both photos and videos; give a folder of "
                                "one kind (or one video)")
        if videos:
            return ("video", videos) if len(videos) == 1 else ("videos", videos)
        if not photos:
            raise FacepipeError(f"swap.face = {face!r}: no photos or videos in this folder (.jpg, .png, .mp4, ...)")
        return "photos", photos
    if not path.is_file():
        raise FacepipeError(f"swap.face = {face!r}: no such file or folder")
    if is_bank_file(face):
        return "bank", [path]
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


UNREADABLE = (OSError, ValueError, KeyError, zipfile.BadZipFile)  # a missing, truncated or foreign .npz


def load_cached(spec: BankSpec) -> FaceBank | None:
    """The cached bank of ``spec``, or None when there is none (or it cannot be read: it is rebuilt)."""
    try:
        return read_bank(spec.path) if spec.path.is_file() else None
    except UNREADABLE:
        return None


BANK_SUFFIX = ".npz"  # a bank file (``facepipe bank``, the bundled bank), read as it is


def is_bank_file(face: str) -> bool:
    return Path(face).suffix.lower() == BANK_SUFFIX


def open_bank_file(face: str) -> FaceBank:
    """A bank file as ``swap.face`` names it; a one-line error when it is missing or not a bank."""
    return _read_bank_file(face, read_bank)


def check_bank_file(face: str) -> None:
    """The same refusals as ``open_bank_file`` from the file's header alone, without decoding its faces
    (0.16 s for the bundled bank): what a run checks before it starts, the swap stage opening it later."""
    _read_bank_file(face, read_bank_info)


def _read_bank_file(face: str, read: Callable[[Path], Any]) -> Any:
    path = Path(face).expanduser()
    if not path.is_file():
        raise FacepipeError(f"swap.face = {face!r}: no such bank file")
    try:
        return read(path)
    except UNREADABLE as exc:
        raise FacepipeError(f"swap.face = {face!r}: not a facepipe face bank ({exc.__class__.__name__})") from None


def open_bank_identity(face: str) -> np.ndarray | None:
    """A bank file's recorded identity (``bank_identity``) without decoding its faces, None if it has
    none; the same one-line refusals as ``open_bank_file``."""
    return _read_bank_file(face, read_bank_identity)


def read_bank_identity(path: Path) -> np.ndarray | None:
    """A bank file's recorded identity (``bank_identity``) without decoding its faces; None if it has none."""
    with np.load(path, allow_pickle=False) as data:
        _bank_info(data)
        return _identity(data)


def _identity(data: Any) -> np.ndarray | None:
    return data["identity"] if "identity" in data.files else None


def read_bank_info(path: Path) -> dict[str, Any]:
    """A bank file's ``info`` (format, kind, source); a ValueError when it is not this format's."""
    with np.load(path, allow_pickle=False) as data:
        return _bank_info(data)


def _bank_info(data: Any) -> dict[str, Any]:
    info = json.loads(str(data["info"]))
    if info.get("format") != BANK_FORMAT:
        raise ValueError(f"bank format {info.get('format')!r}, not {BANK_FORMAT!r}")
    return info


def read_bank(path: Path) -> FaceBank:
    """A bank file: its crops stored raw (a cache file) or as JPEG bytes (the bundled bank, see ``save_bank``)."""
    with np.load(path, allow_pickle=False) as data:
        info = _bank_info(data)
        crops = data["crops"] if "crops" in data.files else _decode_crops(data["crops_jpeg"], data["crops_ends"])
        # described again from the landmarks (a millisecond), so a bank saved before a change in how
        # faces are described (``bank_match``) is matched as a new one would be
        return FaceBank(crops, data["landmarks"], describe(data["landmarks"]),
                        data["frames"], info["kind"], info["source"], _identity(data))


def save_bank(bank: FaceBank, path: Path, jpeg_quality: int | None = None) -> None:
    """One ``.npz``, written atomically. A cache file keeps its crops raw (a load is a read, not a
    decode); a bank shipped in the package stores them as JPEG (``jpeg_quality``: a tenth of the size,
    from footage that was lossy already)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    info = json.dumps({"format": BANK_FORMAT, "kind": bank.kind, "source": bank.source})
    crops = {"crops": bank.crops} if jpeg_quality is None else dict(zip(("crops_jpeg", "crops_ends"),
                                                                        _encode_crops(bank.crops, jpeg_quality)))
    identity = {} if bank.identity is None else {"identity": np.asarray(bank.identity, np.float32)}
    np.savez(buffer, **crops, **identity, landmarks=bank.landmarks, expression=bank.descriptors.expression,
             pose=bank.descriptors.pose, neutral=bank.descriptors.neutral, frames=bank.frames, info=np.array(info))
    write_bytes(path, buffer.getvalue())


IDENTITY_FACES = 8  # bank faces, spread over the bank, whose embeddings are averaged into its identity


def bank_identity(bank: FaceBank) -> np.ndarray:
    """(128,) float32: the mean dlib embedding of ``IDENTITY_FACES`` faces spread over the bank, who
    its person is. A bank file keeps it, so a run that picks among banks by likeness (the bundled
    people) does not embed bank faces at start-up."""
    from stages.faces.identity import face_embedding, mean_embedding

    picks = np.unique(np.linspace(0, len(bank) - 1, min(IDENTITY_FACES, len(bank))).round().astype(int))
    return mean_embedding([face_embedding(bank.crops[i], bank.landmarks[i]) for i in picks]).astype(np.float32)


def _encode_crops(crops: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The crops as one byte array of JPEGs and the end offset of each."""
    import cv2

    encoded = []
    for crop in crops:
        ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise FacepipeError("cannot encode a bank face as JPEG")
        encoded.append(data.reshape(-1))
    return np.concatenate(encoded), np.cumsum([len(e) for e in encoded]).astype(np.int64)


def _decode_crops(data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    import cv2

    starts = np.concatenate([[0], ends[:-1]])
    crops = [cv2.imdecode(data[a:b], cv2.IMREAD_COLOR) for a, b in zip(starts, ends)]
    if any(crop is None for crop in crops):
        raise ValueError("a bank face is not a readable JPEG")
    return np.stack(crops)


@dataclass
class BankSource:
    """The frames of one input a bank is built from, opened: ``frames`` is how many will arrive."""

    source: Source
    info: VideoInfo
    frames: int


def open_bank_sources(spec: BankSpec) -> list[BankSource]:
    """Photos as they are (one source); each video's every Nth frame, N raised so that at most
    ``max_faces`` frames are read from all the videos together (each gets its share by length)."""
    from pipeline.media.decode import FileSource
    from pipeline.media.images import EveryNth, ImageSource

    if spec.kind == "photos":
        photos = ImageSource([Path(p) for p in spec.files], spec.face)
        return [BankSource(photos, photos.open(), len(spec.files))]
    videos = [FileSource(path) for path in spec.files]
    infos = [video.open() for video in videos]
    total = sum(max(1, info.frame_count) for info in infos)
    step = max(spec.every, math.ceil(total / max(1, spec.max_faces)))
    return [BankSource(EveryNth(video, step), info, math.ceil(max(1, info.frame_count) / step))
            for video, info in zip(videos, infos)]


class _Collect(NullSink):
    """A sink that keeps the largest aligned face of each frame, in crop coordinates."""

    def __init__(self) -> None:
        self.offset = 0  # added to the frame numbers of the input being read (several videos)
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
        self.frames.append(self.offset + int(frame.meta.get("source_frame", frame.index)))


def build_bank(spec: BankSpec, opened: list[BankSource], make_stages: MakeStages,
               on_frame: Callable[[Any], None] | None = None) -> FaceBank:
    """Find the faces of ``opened`` with the stages ``make_stages`` builds, describe them, cache the bank."""
    from pipeline.runner import Runner

    sink = _Collect()
    for number, part in enumerate(opened):
        stages, contexts = make_stages(part.info)
        sink.offset = number * FRAMES_PER_INPUT
        Runner(part.source, stages, sink, contexts=contexts, on_frame=on_frame).run()
    if not sink.crops:
        frames = sum(part.frames for part in opened)
        raise FacepipeError(f"swap.face = {spec.face!r}: no face found in {frames} "
                            f"{'photo' if spec.kind == 'photos' else 'frame'}{'s' if frames != 1 else ''}")
    landmarks = np.stack(sink.landmarks)
    bank = FaceBank(np.stack(sink.crops), landmarks, describe(landmarks), np.asarray(sink.frames, np.int32),
                    spec.kind, spec.face)
    save_bank(bank, spec.path)
    return bank
