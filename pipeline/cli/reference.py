"""The embedding of the person named by ``swap.reference``: a photo, or a folder of photos of them.

The reference photos go through the run's own detect and landmarks stages (same backends, same
settings), so the reference is measured exactly as the faces of the video will be; the largest face
of each photo counts, and several photos are averaged (a steadier reference than one shot).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.kinds import is_image
from pipeline.videoinfo import VideoInfo


class _Collect:
    """A sink that keeps each photo's largest face (with its frame, for the embedding)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, np.ndarray, np.ndarray, int]] = []

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        faces = [f for f in frame.faces if f.landmarks is not None]
        if faces:
            largest = max(faces, key=lambda f: f.width * f.height)
            self.found.append((str(frame.meta.get("source")), frame.image, largest.landmarks, len(faces)))

    def close(self, ok: bool) -> None:
        pass


def reference_photos(reference: str) -> list[Path]:
    path = Path(reference)
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
        if not photos:
            raise FacepipeError(f"swap.reference = {reference!r}: no photos in this folder")
        return photos
    if not path.is_file():
        raise FacepipeError(f"swap.reference = {reference!r}: file not found")
    if not is_image(path):
        raise FacepipeError(f"swap.reference = {reference!r}: not a photo (.jpg, .png, .webp, ...)")
    return [path]


def reference_embedding(config: Config, reference: str) -> np.ndarray:
    from pipeline.cli.progress import warn
    from pipeline.compose import build_stages
    from pipeline.media.images import ImageSource
    from pipeline.runner import Runner
    from stages import STAGES
    from stages.faces.identity import face_embedding, mean_embedding

    photos = reference_photos(reference)
    source = ImageSource(photos, reference)
    info = source.open()
    stages, contexts = build_stages(config, STAGES, ["detect", "landmarks"], info, warn)
    sink = _Collect()
    Runner(source, stages, sink, contexts=contexts).run()
    if not sink.found:
        raise FacepipeError(f"swap.reference = {reference!r}: no face found in the reference photo"
                            f"{'s' if len(photos) > 1 else ''}")
    for name, _, _, count in sink.found:
        if count > 1:
            warn(f"swap.reference: {count} faces in {name}; the largest one is the reference")
    return mean_embedding([face_embedding(image, landmarks) for _, image, landmarks, _ in sink.found])
