"""Where the eyes and mouth are in a training crop, and how far the head is turned.

Two lessons from DeepFaceLab's trainer, both driven by the 68 landmarks that ``extract`` stores:

- **Eyes and mouth first.** A viewer judges a swap by its eyes and mouth, but they cover a few
  percent of the face, so a plain masked L1 spends its effort on cheeks and forehead and leaves lips
  and eyelids a smear. :func:`part_maps` marks those regions; the trainer weights their
  reconstruction error ``1 + train.parts_weight`` times.
- **Turned heads are not starved.** A talking-head clip is mostly frontal, so the few turned faces
  are rarely drawn and come out worst. :func:`pose_weights` draws crops less often the more common
  their yaw is (a softened form of DeepFaceLab's "uniform yaw").
"""

from __future__ import annotations

import cv2
import numpy as np

EYES = tuple(range(36, 42)), tuple(range(42, 48))  # iBUG 68: right eye, left eye (as seen in the image)
BROWS = tuple(range(17, 22)), tuple(range(22, 27))
MOUTH = tuple(range(48, 60))  # outer lip contour


def part_maps(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N,68,2) crop-pixel landmarks -> (N,size,size) uint8: 255 over eyes+brows and the mouth, 0 elsewhere.

    Each eye is filled together with its brow (the eyelid between them is what a blurry model loses),
    the lips by their outer contour; both are grown by a margin of the eye width and softened, so the
    weight also covers the skin folds next to them. A face without landmarks (NaN) gets an empty map.
    """
    out = np.zeros((len(landmarks), size, size), np.uint8)
    for i, points in enumerate(np.asarray(landmarks, np.float32)):
        if points.shape != (68, 2) or not np.isfinite(points).all():
            continue
        eye_width = float(np.linalg.norm(points[39] - points[36]))
        grow = max(1, int(round(eye_width * 0.25)))
        for eye, brow in zip(EYES, BROWS):
            hull = cv2.convexHull(points[list(eye + brow)].round().astype(np.int32))
            cv2.fillConvexPoly(out[i], hull, 255)
        cv2.fillConvexPoly(out[i], cv2.convexHull(points[list(MOUTH)].round().astype(np.int32)), 255)
        out[i] = cv2.dilate(out[i], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        out[i] = cv2.GaussianBlur(out[i], (0, 0), grow)
    return out


def yaw(landmarks: np.ndarray) -> np.ndarray:
    """(N,68,2) -> (N,) head turn in [-1, 1]: where the nose tip lies between the jaw's ends (0 = frontal).

    A proxy, not an angle: monotonic in yaw for the poses a face detector finds, which is all that
    equal-frequency sampling needs. NaN where landmarks are missing.
    """
    pts = np.asarray(landmarks, np.float64)
    left, right, nose = pts[:, 0, 0], pts[:, 16, 0], pts[:, 30, 0]
    span = right - left
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (nose - left) / np.where(np.abs(span) > 1e-6, span, np.nan) * 2.0 - 1.0
    return np.clip(value, -1.0, 1.0)


def pose_weights(landmarks: np.ndarray, bins: int = 9, power: float = 0.5) -> np.ndarray:
    """(N,) sampling probabilities that flatten how often each yaw bin is drawn.

    A face's weight is its bin's count to the power ``-power``: 1 would draw every occupied bin
    equally (DeepFaceLab's uniform yaw), which on a mostly frontal clip of expressions (B: 719 of 773
    faces in the frontal bin) would spend half the draws on 54 turned faces and halve how often each
    expression is seen; 0.5 lifts the turned faces 4-10x while the frontal ones keep about 3/4 of the
    draws. Faces without landmarks weigh as an average face; no face is drawn more than 8 times as
    often as under uniform sampling.
    """
    n = len(landmarks)
    if n == 0:
        return np.zeros(0)
    turn = yaw(landmarks)
    known = np.isfinite(turn)
    weights = np.ones(n)
    if known.any():
        index = np.clip(((turn[known] + 1.0) / 2.0 * bins).astype(int), 0, bins - 1)
        counts = np.bincount(index, minlength=bins).astype(np.float64)
        weights[known] = counts[index] ** -power
        weights[known] *= known.sum() / weights[known].sum()  # mean 1 over the known faces
    weights = np.minimum(weights, 8.0)
    return weights / weights.sum()
