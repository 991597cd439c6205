"""Who a face is: dlib's 128-D face-recognition embedding (ResNet, weights from ``face-recognition-models``).

Two faces whose embeddings lie within 0.6 (Euclidean) are the same person by dlib's own threshold.
Used to pick faces by a reference photo, to split a folder into one faceset per person, and to
measure swaps (is the output nearer the target identity than the source?). The network wants the
frame and the face's 68 landmarks; it aligns a 150-px chip itself.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from pipeline.errors import FacepipeError
from stages.faces.landmarkers import dlib_model_path

SAME_PERSON = 0.6  # dlib's threshold for its embedding
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@functools.lru_cache(maxsize=1)
def _recogniser() -> Any:
    import dlib

    # found by path, not imported: the package's __init__ needs pkg_resources (gone from recent setuptools)
    model = dlib_model_path().with_name(RECOGNITION_FILE)
    if not model.is_file():
        raise FacepipeError(f"dlib face-recognition model {RECOGNITION_FILE} not found: pip install face-recognition-models")
    return dlib.face_recognition_model_v1(str(model))


def face_embedding(image_bgr: np.ndarray, landmarks68: np.ndarray, jitter: int = 0) -> np.ndarray:
    """(128,) float32 embedding of the face whose 68 iBUG landmarks (frame pixels) are given."""
    import dlib

    points = [dlib.point(int(round(float(x))), int(round(float(y)))) for x, y in np.asarray(landmarks68)[:68]]
    xs, ys = np.asarray(landmarks68)[:, 0], np.asarray(landmarks68)[:, 1]
    rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    shape = dlib.full_object_detection(rect, points)
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    return np.asarray(_recogniser().compute_face_descriptor(rgb, shape, jitter), np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings (or an embedding and a mean embedding)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


def mean_embedding(embeddings: list[np.ndarray]) -> np.ndarray:
    """The centre of several embeddings of one person (a steadier reference than any single frame)."""
    return np.mean(np.stack(embeddings), axis=0).astype(np.float32)
