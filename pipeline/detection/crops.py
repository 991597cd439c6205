"""Aligned face crops from corpus videos, cut by the face stages and cached per video.

Each sampled frame goes through detect -> landmarks -> align (the same stages and crop convention
as ``facepipe extract`` and the occlusion attack, so a detector sees at scoring time what it saw in
training). One face per frame is kept -- the largest -- because a corpus video shows one person.
Frames are sampled seeded per video, and detection runs on every sampled frame (``detect.every = 1``,
no landmark smoothing) since sampled frames are not neighbours.

The cache is one ``.npz`` per (video, sampling, crop settings), written atomically: an interrupted
run keeps every finished video, and a re-run cuts only what is missing. :func:`find_faces` runs the
same stages, with their default settings, over one image (the attack's tests and benchmark).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.atomic import atomic_path
from pipeline.videoinfo import VideoInfo
from stages.faces.geometry import transform

CROP_SIZE = 256


@dataclass
class Crops:
    """The faces cut from one video: arrays indexed alike."""

    images: np.ndarray  # (N, S, S, 3) BGR uint8 aligned crops
    frames: np.ndarray  # (N,) frame index
    boxes: np.ndarray  # (N, 4) face box in the frame
    crop_boxes: np.ndarray  # (N, 4) face box in crop pixels (for occluders)
    crop_landmarks: np.ndarray  # (N, 68, 2) landmarks in crop pixels
    sampled: int  # frames looked at

    def __len__(self) -> int:
        return len(self.images)


class Sampled:
    """A source passing on only the frames whose index is in ``keep`` (all when ``keep`` is None)."""

    def __init__(self, source: Any, count: int, seed: int, name: str) -> None:
        self.source = source
        self.count, self.seed, self.name = count, seed, name
        self.keep: set[int] | None = None
        self.live = False

    @property
    def info(self) -> VideoInfo | None:
        return self.source.info

    def open(self) -> VideoInfo:
        info = self.source.open()
        self.keep = sample_indices(info.frame_count, self.count, self.seed, self.name)
        return info

    def frames(self) -> Iterator[Frame]:
        for frame in self.source.frames():
            if self.keep is None or frame.index in self.keep:
                yield frame

    def close(self) -> None:
        self.source.close()


def sample_indices(total: int, count: int, seed: int, name: str) -> set[int] | None:
    """``count`` distinct frame indices of ``total``, the same for the same (seed, name); None = all."""
    if count <= 0 or not total or count >= total:
        return None
    digest = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng([seed, digest])
    return {int(i) for i in rng.choice(total, size=count, replace=False)}


class CropSink:
    """Keeps the largest aligned face of each frame."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.frames = 0

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        self.frames += 1
        faces = [f for f in frame.faces if f.crop is not None and f.matrix is not None]
        if not faces:
            return
        face = max(faces, key=lambda f: f.width * f.height)
        m = np.asarray(face.matrix, np.float64)
        x0, y0, x1, y1 = face.box
        corners = transform(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64), m)
        crop_box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
        marks = transform(face.landmarks, m).astype(np.float32)
        self.rows.append((frame.index, face.crop[..., :3].copy(), np.asarray(face.box, np.float32), crop_box, marks))

    def close(self, ok: bool) -> None:
        pass

    def crops(self) -> Crops:
        size = CROP_SIZE
        if not self.rows:
            return Crops(np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                         np.zeros((0, 4), np.float32), np.zeros((0, 68, 2), np.float32), self.frames)
        index, images, boxes, crop_boxes, marks = zip(*self.rows)
        return Crops(np.stack(images), np.asarray(index, np.int64), np.stack(boxes), np.stack(crop_boxes),
                     np.stack(marks), self.frames)


def face_config(config: Config, sparse: bool) -> Config:
    """The face stages' settings for crops: fixed crop size; per-frame detection when frames are sampled."""
    sections = {name: config.section(name) for name in config.names()}
    sections["align"] = dataclasses.replace(config.align, size=CROP_SIZE)
    if sparse:
        sections["detect"] = dataclasses.replace(config.detect, every=1)
        sections["landmarks"] = dataclasses.replace(config.landmarks, smooth=False)
    return Config(sections, config.sources)


def cut_crops(path: Path, config: Config, count: int, seed: int, name: str, warn: Callable[[str], None]) -> Crops:
    """Run the face stages over the sampled frames of one video."""
    from pipeline.compose import build_stages
    from pipeline.media.decode import FileSource
    from pipeline.runner import Runner
    from stages import FACE_STAGES, STAGES

    cfg = face_config(config, sparse=count > 0)
    source = Sampled(FileSource(path, cfg.decode), count, seed, name)
    info = source.open()
    stages, contexts = build_stages(cfg, STAGES, list(FACE_STAGES), info, warn)
    sink = CropSink()
    Runner(source, stages, sink, queue_frames=cfg.pipeline.queue_frames, contexts=contexts).run()
    return sink.crops()



def find_faces(image: np.ndarray, index: int = 0) -> Frame:
    """A Frame of ``image`` with its faces detected, landmarked and aligned by the default stages."""
    from pipeline.stage import StageContext
    from stages import FACE_STAGES, STAGES

    frame = Frame(index, 0.0, image.copy())
    for name in FACE_STAGES:
        cls = STAGES.load(name)
        stage = cls(cls.Config())
        stage.open(StageContext(video=None, config=stage.config, warn=lambda message: None))
        try:
            stage.process([frame])
        finally:
            stage.close(True)
    return frame


def cache_key(path: Path, count: int, seed: int, name: str, config: Config) -> str:
    stat = path.stat()
    settings = {"name": name, "size": stat.st_size, "mtime": int(stat.st_mtime), "count": count, "seed": seed,
                "crop": CROP_SIZE, "coverage": config.align.coverage, "detect": config.detect.backend,
                "landmarks": config.landmarks.backend, "v": 1}
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def load_cached(file: Path) -> Crops | None:
    if not file.is_file():
        return None
    try:
        with np.load(file) as data:
            return Crops(data["images"], data["frames"], data["boxes"], data["crop_boxes"], data["crop_landmarks"],
                         int(data["sampled"]))
    except Exception:  # noqa: BLE001 - a damaged cache entry is cut again
        return None


def save_cached(file: Path, crops: Crops) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as temp, temp.open("wb") as handle:
        np.savez(handle, images=crops.images, frames=crops.frames, boxes=crops.boxes, crop_boxes=crops.crop_boxes,
                 crop_landmarks=crops.crop_landmarks, sampled=np.int64(crops.sampled))


def video_crops(path: Path, config: Config, count: int, seed: int, name: str, cache_dir: Path | None,
                warn: Callable[[str], None] = print) -> Crops:
    """Crops of one video, from the cache when it has them."""
    if not path.is_file():
        raise FacepipeError(f"video not found: {path}")
    file = cache_dir / f"{cache_key(path, count, seed, name, config)}.npz" if cache_dir else None
    cached = load_cached(file) if file else None
    if cached is not None:
        return cached
    crops = cut_crops(path, config, count, seed, name, warn)
    if file is not None:
        save_cached(file, crops)
    return crops
