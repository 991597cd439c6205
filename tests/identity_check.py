"""Who is in a video, for tests that claim a swap changed the person.

Faces come from the real detect and landmarks stages; identity is dlib's 128-D embedding
(``stages.faces.identity``). The references are mean embeddings of the two identities the bundled
model knows: A = the woman of ``WolfgangLanger_Pexels.mp4``, B = the woman of
``people/lp_d6_woman_scrunchie_funnyfaces_first30s.mp4`` (models/README.md).
A model given with ``FACEPIPE_TEST_MODEL`` must know the same two people (a retrained bundled model
with other identities changes ``REFERENCE_CLIPS`` and the swap tests' clips with it).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from pipeline.frame import Frame
from pipeline.media.decode import DecodeConfig, FileSource
from pipeline.stage import StageContext
from stages.detect import DetectConfig, DetectStage
from stages.faces.identity import face_embedding, mean_embedding
from stages.landmarks import LandmarksConfig, LandmarksStage

REFERENCE_CLIPS = {"a": "WolfgangLanger_Pexels.mp4", "b": "people/lp_d6_woman_scrunchie_funnyfaces_first30s.mp4"}
REFERENCE_STEP = {"a": 16, "b": 30}  # about 30 frames spread over each clip


def frame_embeddings(images: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Frame index -> embedding of the largest face (frames without a face are left out).

    Detect (every frame: no tracking) and landmarks run on each image on its own, so a sparse sample
    of a long clip costs only its own frames.
    """
    stages = [DetectStage(DetectConfig(every=1)), LandmarksStage(LandmarksConfig(smooth=False))]
    for stage in stages:
        stage.open(StageContext(video=None, config=stage.config))
    out = {}
    for index, image in images.items():
        frame = Frame(index=index, pts=0.0, image=image.copy())
        for stage in stages:
            stage.process([frame])
        faces = [f for f in frame.faces if f.landmarks is not None]
        if faces:
            face = max(faces, key=lambda f: f.width * f.height)
            out[index] = face_embedding(image, face.landmarks)
    for stage in stages:
        stage.close(True)
    return out


def video_embeddings(path: str | Path, step: int = 1, max_frames: int = 0) -> dict[int, np.ndarray]:
    """Embeddings of every ``step``-th frame of a video (see :func:`frame_embeddings`)."""
    source = FileSource(path, DecodeConfig(max_frames=max_frames))
    source.open()
    try:
        images = {f.index: f.image for f in source.frames() if f.index % step == 0}
    finally:
        source.close()
    return frame_embeddings(images)


@functools.lru_cache(maxsize=None)
def reference(identity: str, media_dir: str) -> np.ndarray:
    """Mean embedding of identity ``a`` or ``b`` over frames spread across its reference clip."""
    embeddings = video_embeddings(Path(media_dir) / REFERENCE_CLIPS[identity], step=REFERENCE_STEP[identity])
    assert len(embeddings) >= 8, f"reference {identity}: only {len(embeddings)} faces"
    return mean_embedding(list(embeddings.values()))

