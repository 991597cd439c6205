"""The face stages (detect → landmarks → align) run once over a single image."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.frame import Frame
from pipeline.stage import StageContext
from stages import STAGES

FACE_STAGES = ("detect", "landmarks", "align")


def find_faces(image: np.ndarray, index: int = 0, stages: tuple[str, ...] = FACE_STAGES) -> Frame:
    """A Frame of ``image`` with its faces detected, landmarked and aligned by the default stages."""
    frame = Frame(index, 0.0, image.copy())
    for name in stages:
        cls = STAGES.load(name)
        stage = cls(cls.Config())
        stage.open(StageContext(video=None, config=stage.config, warn=lambda message: None))
        try:
            stage.process([frame])
        finally:
            stage.close(True)
    return frame


def copy_frame(frame: Frame) -> Frame:
    """An independent copy (image, faces, meta) to run an experiment on without touching the original."""
    faces = [replace(face, extras=dict(face.extras)) for face in frame.faces]
    return Frame(frame.index, frame.pts, frame.image.copy(), faces, dict(frame.meta))
