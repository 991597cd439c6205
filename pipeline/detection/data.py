"""Crops of a set of corpus videos, cut in parallel by the job engine and gathered into arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.config import Config
from pipeline.detection.corpus import Video
from pipeline.detection.crops import Crops, video_crops
from pipeline.errors import FacepipeError

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class CropSet:
    """Crops of many videos; ``video`` indexes ``videos`` for every crop."""

    videos: list[Video]
    images: np.ndarray
    crop_boxes: np.ndarray
    crop_landmarks: np.ndarray
    video: np.ndarray
    frames: np.ndarray
    no_face: list[str] = field(default_factory=list)  # videos where no sampled frame had a face

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([self.videos[i].label for i in self.video], np.int64)

    def __len__(self) -> int:
        return len(self.images)


def _job(payload: dict[str, Any]) -> Crops:
    return video_crops(Path(payload["path"]), payload["config"], payload["count"], payload["seed"], payload["name"],
                       payload["cache"], warn=lambda message: None)


def gather(videos: list[Video], config: Config, count: int, seed: int, cache_dir: Path | None,
           progress: Progress | None = None, what: str = "crops") -> CropSet:
    """Cut (or load from the cache) the sampled crops of every video; a video that fails is a one-line error."""
    from pipeline.jobs import open_engine, run_jobs

    jobs = [(v.key, {"path": str(v.path), "config": config, "count": count, "seed": seed, "name": v.key,
                     "cache": cache_dir}) for v in videos]
    done = [0]

    def on_done(result: Any) -> None:
        done[0] += 1
        if progress:
            progress(what, done[0], len(jobs))

    if progress:
        progress(what, 0, len(jobs))
    engine = open_engine(workers=max(1, config.detector.workers))
    try:
        results = run_jobs(_job, jobs, engine, on_done)
    finally:
        engine.close()
    failed = [r for r in results if not r.ok]
    if failed:
        raise FacepipeError(f"{failed[0].key}: {failed[0].error}" + (f" (and {len(failed) - 1} more videos)" if len(failed) > 1 else ""))
    parts: list[Crops] = [r.value for r in results]
    no_face = [v.key for v, c in zip(videos, parts) if len(c) == 0]
    index = np.concatenate([np.full(len(c), i, np.int64) for i, c in enumerate(parts)]) if parts else np.zeros(0, np.int64)
    stack = [c for c in parts if len(c)]
    if not stack:
        return CropSet(videos, np.zeros((0, 256, 256, 3), np.uint8), np.zeros((0, 4), np.float32),
                       np.zeros((0, 68, 2), np.float32), index, np.zeros(0, np.int64), no_face)
    return CropSet(videos, np.concatenate([c.images for c in stack]), np.concatenate([c.crop_boxes for c in stack]),
                   np.concatenate([c.crop_landmarks for c in stack]), index,
                   np.concatenate([c.frames for c in stack]), no_face)
