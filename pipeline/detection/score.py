"""``facepipe detector score``: P(fake) per face, per frame and per video, and an overlay video.

decode -> detect -> landmarks -> align -> :class:`ScoreStage` -> (encode for ``-o``). The stage
scores every aligned face in batches of frames and, for the overlay, boxes each face in a colour
from green (real) to red (fake) with its score. A frame's P(fake) is its most suspicious face's; the
video's is the mean over frames that have a face. A video without any face has no P(fake): it is
reported as "no face", never as 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from pipeline.config import Config
from pipeline.frame import Frame
from pipeline.io import NullSink
from pipeline.stage import Stage


def score_colour(p: float) -> tuple[int, int, int]:
    """BGR from green (0, real) through yellow to red (1, fake)."""
    p = float(np.clip(p, 0.0, 1.0))
    return (0, int(round(255 * min(1.0, 2 * (1 - p)))), int(round(255 * min(1.0, 2 * p))))


def draw_overlay(image: np.ndarray, box: np.ndarray, p: float) -> None:
    colour = score_colour(p)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    thick = max(2, image.shape[0] // 240)
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)
    label = f"P(fake) {p:.2f}"
    scale = max(0.5, image.shape[0] / 900)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    top = max(0, y0 - th - base - 4)
    cv2.rectangle(image, (x0, top), (x0 + tw + 6, top + th + base + 4), colour, -1)
    cv2.putText(image, label, (x0 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)


class ScoreStage(Stage):
    """Scores every aligned face; optionally draws the overlay. Not in ``stages.STAGES``: an app-room stage."""

    name = "detector-score"
    batch_size = 16

    def __init__(self, detector: Any, overlay: bool) -> None:
        super().__init__(None)
        self.detector = detector
        self.overlay = overlay
        self.frames: list[dict[str, Any]] = []

    def process(self, batch: list[Frame]) -> list[Frame]:
        faces = [(frame, face) for frame in batch for face in frame.faces if face.crop is not None]
        probs, distances = self.detector.score_faces(np.stack([f.crop[..., :3] for _, f in faces])) if faces \
            else ([], None)
        scored: dict[int, list[dict[str, Any]]] = {frame.index: [] for frame in batch}
        for i, ((frame, face), p) in enumerate(zip(faces, probs)):
            entry = {"box": [round(float(v), 1) for v in face.box], "p_fake": round(float(p), 4)}
            if distances is not None:
                entry["distance"] = round(float(distances[i]), 3)
            scored[frame.index].append(entry)
            if self.overlay:
                draw_overlay(frame.image, face.box, float(p))
        for frame in batch:
            self.frames.append({"index": frame.index, "pts": round(frame.pts, 4), "faces": scored[frame.index]})
        return batch


@dataclass
class ScoreResult:
    video: str
    frames: list[dict[str, Any]]
    p_fake: float | None  # None: no face anywhere
    detector: str
    stats: dict[str, Any] = field(default_factory=dict)
    uncertain: str | None = None  # why the verdict cannot be trusted (faces unlike the training data)
    threshold: float = 0.5

    @property
    def verdict(self) -> str:
        return verdict(self.p_fake, self.threshold, self.uncertain)

    @property
    def faces(self) -> int:
        return sum(len(f["faces"]) for f in self.frames)

    def as_json(self) -> dict[str, Any]:
        with_face = sum(1 for f in self.frames if f["faces"])
        return {"video": {"path": self.video, "p_fake": None if self.p_fake is None else round(self.p_fake, 4),
                          "verdict": self.verdict, "uncertain_because": self.uncertain,
                          "frames": len(self.frames), "frames_with_face": with_face,
                          "faces": self.faces, "detector": self.detector},
                "frames": [{"index": f["index"], "faces": f["faces"]} for f in self.frames]}


def verdict(p: float | None, threshold: float = 0.5, uncertain: str | None = None) -> str:
    if p is None:
        return "no face"
    return "uncertain" if uncertain else ("fake" if p >= threshold else "real")


def video_uncertainty(frames: list[dict[str, Any]], detector: Any) -> str | None:
    """The reason a video's verdict is "uncertain": its faces (each frame's most suspicious one, the
    face its P(fake) comes from) are mostly unlike the detector's training data."""
    from models.detectors.calibration import uncertain_reason

    distances = [face["distance"] for face in deciding_faces(frames) if "distance" in face]
    return uncertain_reason(distances, getattr(detector, "familiarity", None))


def deciding_faces(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each frame's most suspicious face: the one whose P(fake) is the frame's."""
    return [max(f["faces"], key=lambda face: face["p_fake"]) for f in frames if f["faces"]]


def video_probability(frames: list[dict[str, Any]]) -> float | None:
    per_frame = [face["p_fake"] for face in deciding_faces(frames)]
    return float(np.mean(per_frame)) if per_frame else None


def score_video(path: str, detector: Any, config: Config, overlay: Path | None, warn: Callable[[str], None],
                on_frame: Callable[[Any], None] | None = None) -> ScoreResult:
    from pipeline.compose import build_stages
    from pipeline.media.decode import FileSource
    from pipeline.media.encode import FileSink
    from pipeline.runner import Runner
    from stages import FACE_STAGES, STAGES

    source = FileSource(path, config.decode)
    info = source.open()
    stages, contexts = build_stages(config, STAGES, list(FACE_STAGES), info, warn)
    scorer = ScoreStage(detector, overlay is not None)
    stages.append(scorer)
    contexts.append(contexts[-1].__class__(video=info, config=None, device=contexts[-1].device, warn=warn))
    sink = FileSink(overlay, config.encode, audio_source=path) if overlay is not None else NullSink()
    stats = Runner(source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                   on_frame=on_frame).run()
    for message in getattr(source, "warnings", []):
        warn(message)
    name = str(detector.card.record.get("name") or detector.architecture)
    return ScoreResult(path, scorer.frames, video_probability(scorer.frames), name, stats.as_dict(),
                       video_uncertainty(scorer.frames, detector), config.detector.threshold)
