"""Face tracks across frames: identity by IoU + landmark distance, motion by optical flow, scene cuts.

Used by the detect stage. Three small pieces:

* :class:`SceneCutDetector` - a hard cut makes every track meaningless (a new shot, new people), so
  tracks are reset on a cut. Detected cheaply from a tiny HSV histogram.
* :class:`Tracker` - gives each detection the id of the track it continues. Cost = (1 - IoU) plus
  the distance of the detector's five key points, in face sizes; greedy matching is exact enough
  for the handful of faces per frame. A track survives a few missed detections (a hand passing
  over the face) so the face keeps its id when it is found again.
* :func:`propagate` - between detections (detect every N frames) moves each track's box and key
  points with the median sparse optical flow of points on the face, estimated as a similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.faces.geometry import box_iou, fit_longest_side


class SceneCutDetector:
    """Flags a frame whose colour histogram differs sharply from the previous frame's."""

    def __init__(self, threshold: float = 0.5, size: int = 64) -> None:
        self.threshold = threshold  # Bhattacharyya distance 0 (same) .. 1 (disjoint)
        self.size = size
        self._previous: np.ndarray | None = None

    def histogram(self, image: np.ndarray) -> np.ndarray:
        import cv2
        hsv = cv2.cvtColor(fit_longest_side(image, self.size, enlarge=True), cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 6, 4], [0, 180, 0, 256, 0, 256])
        return cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1)

    def distance(self, image: np.ndarray) -> float:
        """Distance to the previous frame (0 for the first); remembers this frame."""
        import cv2
        hist = self.histogram(image)
        previous, self._previous = self._previous, hist
        if previous is None:
            return 0.0
        return float(cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA))

    def __call__(self, image: np.ndarray) -> bool:
        return self.threshold > 0 and self.distance(image) > self.threshold

    def reset(self) -> None:
        self._previous = None


@dataclass
class Track:
    """What is remembered of one face between frames."""

    track_id: int
    box: np.ndarray  # x0, y0, x1, y1 frame pixels
    points: np.ndarray | None  # (5, 2) detector key points, frame pixels
    score: float
    misses: int = 0  # consecutive detection rounds without a match


def _point_distance(a: Track, box: np.ndarray, points: np.ndarray | None) -> float:
    """Mean key-point distance in face sizes; 0 when either side has no points."""
    if a.points is None or points is None:
        return 0.0
    size = max(1.0, float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1])))))
    return float(np.linalg.norm(a.points - points, axis=1).mean() / size)


class Tracker:
    """Assigns stable track ids to detections, frame after frame."""

    def __init__(self, min_iou: float = 0.2, point_weight: float = 1.0, max_misses: int = 10) -> None:
        self.min_iou = min_iou
        self.point_weight = point_weight
        self.max_misses = max_misses
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget all tracks (scene cut). Ids keep increasing so they never repeat in a video."""
        self.tracks = []

    def update(self, boxes: list[np.ndarray], points: list[np.ndarray | None], scores: list[float]) -> list[int]:
        """Match this frame's detections to tracks; returns one track id per detection."""
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self.tracks):
            for di, box in enumerate(boxes):
                iou = box_iou(track.box, box)
                if iou < self.min_iou:
                    continue
                cost = (1.0 - iou) + self.point_weight * _point_distance(track, box, points[di])
                pairs.append((cost, ti, di))
        pairs.sort()
        ids = [-1] * len(boxes)
        used: set[int] = set()
        for _, ti, di in pairs:
            if ti in used or ids[di] != -1:
                continue
            used.add(ti)
            ids[di] = self.tracks[ti].track_id
            track = self.tracks[ti]
            track.box, track.points, track.score, track.misses = boxes[di], points[di], scores[di], 0
        for ti, track in enumerate(self.tracks):
            if ti not in used:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for di, box in enumerate(boxes):
            if ids[di] == -1:
                ids[di] = self._next_id
                self.tracks.append(Track(self._next_id, box, points[di], scores[di]))
                self._next_id += 1
        return ids

    def live(self) -> list[Track]:
        """Tracks matched on the latest detection round (the faces currently visible)."""
        return [t for t in self.tracks if t.misses == 0]


# Lucas-Kanade settings; criteria = (TERM_CRITERIA_EPS | TERM_CRITERIA_COUNT, 20 iterations, 0.03 px)
_LK_PARAMS = dict(winSize=(15, 15), maxLevel=3, criteria=(3, 20, 0.03))


def propagate(previous: np.ndarray, current: np.ndarray, box: np.ndarray, seeds: np.ndarray | None) -> np.ndarray | None:
    """Similarity transform (2x3) moving a face from ``previous`` to ``current`` (grey images).

    ``box`` and ``seeds`` (optional points known to lie on the face, e.g. last landmarks) are in
    the images' pixel coordinates. Points are tracked forward and backward with pyramidal
    Lucas-Kanade; only points that come back to where they started are trusted. None when the
    face cannot be followed (too few reliable points): the track is then dropped until detected.
    """
    import cv2
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w < 4 or h < 4:
        return None
    grid = np.stack(np.meshgrid(np.linspace(x0 + 0.2 * w, x1 - 0.2 * w, 5),
                                np.linspace(y0 + 0.2 * h, y1 - 0.2 * h, 5)), axis=-1).reshape(-1, 2)
    points = grid if seeds is None else np.vstack([grid, seeds])
    points = points.astype(np.float32).reshape(-1, 1, 2)
    forward, ok1, _ = cv2.calcOpticalFlowPyrLK(previous, current, points, None, **_LK_PARAMS)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, None, **_LK_PARAMS)
    error = np.linalg.norm((back - points).reshape(-1, 2), axis=1)
    good = (ok1.ravel() == 1) & (ok2.ravel() == 1) & (error < max(1.0, 0.02 * max(w, h)))
    if good.sum() < 6:
        return None
    matrix, _ = cv2.estimateAffinePartial2D(points[good], forward[good], method=cv2.LMEDS)
    if matrix is None:
        return None
    return matrix.astype(np.float64)
