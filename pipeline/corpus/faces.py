"""The per-video face cache: detect -> landmarks -> align -> strip once, kept as a faceset in the corpus.

Both methods and the exporter read it: ``warp`` takes the source's texture from its best crop and the
target's landmarks frame by frame, ``gan`` trains on the crops, and every fake of a target reuses the
target's landmarks instead of detecting again. Corpus videos are one person each, so the detector keeps
the largest face per frame (``detect.max_faces = 1``). A cache is complete when ``alignments.json``
exists (the faceset writer commits it last, atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.frame import Face, Frame
from pipeline.media.faceset import ALIGNMENTS, read_alignments
from pipeline.stage import Stage


def extract_faces(video: str, directory: Path, config: Config) -> dict[str, Any]:
    """Write the faceset of ``video`` (first ``decode.max_frames`` frames) into ``directory``."""
    from pipeline.compose import build_stages
    from pipeline.media.decode import FileSource
    from pipeline.media.faceset import FacesetWriter
    from pipeline.runner import Runner
    from stages import FACESET_STAGES, STAGES
    from stages.faces.geometry import TEMPLATE_NAME

    source = FileSource(video, config.decode)
    info = source.open()
    stages, contexts = build_stages(config, STAGES, list(FACESET_STAGES), info, lambda message: None)
    align = {"size": config.align.size, "coverage": config.align.coverage, "template": TEMPLATE_NAME}
    writer = FacesetWriter(directory, align)
    Runner(source, stages, writer, queue_frames=config.pipeline.queue_frames, contexts=contexts).run()
    summary = writer.summaries[-1]
    return {"frames": summary.frames, "faces": summary.faces}


def is_cached(directory: Path) -> bool:
    return (directory / ALIGNMENTS).is_file()


def face_records(directory: Path) -> dict[int, dict[str, Any]]:
    """frame number -> the face record of that frame (one face per frame)."""
    records: dict[int, dict[str, Any]] = {}
    for record in read_alignments(directory)["faces"]:
        records.setdefault(int(record["frame"]), record)
    return records


def crop_landmarks(record: dict[str, Any]) -> np.ndarray:
    """The record's 68 landmarks in its aligned crop's pixels."""
    from stages.faces.geometry import transform

    return transform(np.asarray(record["landmarks"], np.float64), np.asarray(record["matrix"], np.float64))


def frontality(record: dict[str, Any]) -> float:
    """0 for a face looking into the camera: the nose tip's offset from the eyes' midline, per eye distance."""
    points = np.asarray(record["landmarks"], np.float64)
    eyes = (points[36:42].mean(axis=0), points[42:48].mean(axis=0))
    distance = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1e-6)
    centre = (eyes[0] + eyes[1]) / 2
    jaw = float(abs(np.linalg.norm(points[0] - points[30]) - np.linalg.norm(points[16] - points[30]))) / distance
    return float(abs(points[30][0] - centre[0])) / distance + 0.5 * jaw


def best_record(directory: Path) -> dict[str, Any]:
    """The most frontal face of a cached video: the texture source of the warp method."""
    records = list(face_records(directory).values())
    return min(records, key=frontality)


class CachedFaces(Stage):
    """Puts each frame's cached face back on the frame (box, landmarks, alignment, crop, hull mask).

    ``crops=False``: box, landmarks and alignment only (what an occluder needs; no crop to cut)."""

    name = "faces"

    def __init__(self, directory: Path, size: int, coverage: float, strip: Any, crops: bool = True) -> None:
        super().__init__(None)
        self.records = face_records(directory)
        self.size, self.coverage, self.strip = size, coverage, strip
        self.crops = crops

    def process(self, batch: list[Frame]) -> list[Frame]:
        from stages.align import warp_face
        from stages.faces.geometry import invert
        from stages.strip import hull_mask

        for frame in batch:
            record = self.records.get(frame.index)
            if record is None:
                continue
            matrix = np.asarray(record["matrix"], np.float64)
            face = Face(box=np.asarray(record["box"], np.float32), score=float(record["score"]),
                        landmarks=np.asarray(record["landmarks"], np.float32), track_id=0)
            face.matrix, face.inverse = matrix, invert(matrix)
            frame.faces = [face]
            if not self.crops:
                continue
            face.crop = warp_face(frame.image, matrix, self.size)
            face.mask = hull_mask(crop_landmarks(record), self.size, self.strip.forehead, self.strip.feather)
        return batch
