"""The target's glasses frame, kept over the painted face.

Why: a bank face has no glasses (the bundled people wear none), so painting it over a face with
glasses took the rims away wherever the feature core is painted (between and under the eyes) and
left them where the skin gate keeps the target's pixels (at the temples): half a frame, faded, on
the face. Viewers read that at once, and it is most of ``double_edges`` on ``retalking_face5``.
Glasses sit on the head, not in the face: their frame stays the target's, where it is in the frame.

How: a frame's rims are thin dark lines around the eyes. A morphological black-hat (what a closing
with a disc wider than a rim fills in) finds thin dark lines; those the target has around its eyes
and the painted bank face lacks are the rims (eye lids, lashes and brows both faces have, and the
eyes themselves are left out). Whether a face wears glasses at all is read at the bridge, where
a frame crosses the nose between the eyes and a bare nose has no line: only then is anything kept,
so a face without glasses keeps none of its own creases.
"""

from __future__ import annotations

import numpy as np

from stages.faces.geometry import inter_ocular

RIM_WIDTH = 0.12  # inter-ocular units: lines thinner than this are found (a rim is 0.02-0.06)
STRENGTH = (6.0, 18.0)  # grey levels of black-hat excess over the painted face: from nothing kept to all kept
BRIDGE_RUN = 0.12  # inter-ocular units: the least length of a line across the bridge that counts
BRIDGE_SHARE = 0.6  # share of the bridge's columns that must hold a line for a face to wear glasses


def _black_hat(grey: np.ndarray, width: int) -> np.ndarray:
    import cv2

    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, disc).astype(np.float32)


def _around_eyes(points: np.ndarray, size: int, iod: float) -> np.ndarray:
    """Bool mask of where a frame runs: an ellipse around each eye and the bridge between them, less
    the eyes themselves (grown a little: lids and lashes are the face's)."""
    import cv2

    region = np.zeros((size, size), np.uint8)
    eyes = (points[36:42], points[42:48])
    for eye in eyes:
        centre = eye.mean(axis=0)
        axes = (int(round(0.55 * iod)), int(round(0.42 * iod)))
        cv2.ellipse(region, (int(round(centre[0])), int(round(centre[1]))), axes, 0, 0, 360, 1, -1)
    inner = np.vstack([points[39], points[42]])
    top = min(points[39, 1], points[42, 1]) - 0.3 * iod
    cv2.rectangle(region, (int(inner[:, 0].min()), int(top)), (int(inner[:, 0].max()), int(inner[:, 1].max())), 1, -1)
    holes = np.zeros((size, size), np.uint8)
    for eye in eyes:
        cv2.fillConvexPoly(holes, cv2.convexHull(np.round(eye).astype(np.int32)), 1)
    grow = max(1, int(round(0.08 * iod)))
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    return (region > 0) & (holes == 0)


def wears_glasses(crop: np.ndarray, points: np.ndarray) -> float:
    """Share of the bridge's columns (between the inner eye corners, from nearly half the eye distance
    above the eyes down to them) crossed by a thin dark line that runs across: near 1 with glasses,
    near 0 without. Only runs of ``BRIDGE_RUN`` or longer count: a frown's lines between the brows run
    up and down (on the sample's frown, counting any line there said glasses on every frame)."""
    import cv2

    iod = inter_ocular(points)
    width, run = _odd(RIM_WIDTH * iod), _odd(BRIDGE_RUN * iod)
    x0, x1 = sorted((int(round(points[39, 0] + 0.1 * iod)), int(round(points[42, 0] - 0.1 * iod))))
    y1 = int(round(max(points[39, 1], points[42, 1])))
    y0 = int(round(y1 - 0.45 * iod))
    # worked on the bridge and a margin as wide as the filters reach, not the whole crop (a third of a
    # millisecond, not three): inside the window the result is the same
    margin = width + run
    top, left = max(y0 - margin, 0), max(x0 - margin, 0)
    part = crop[top:max(y1 + margin, 1), left:max(x1 + margin, 1)]
    if part.size == 0 or min(part.shape[:2]) < 3:
        return 0.0
    line = (_black_hat(cv2.cvtColor(part, cv2.COLOR_BGR2GRAY), width) > STRENGTH[1]).astype(np.uint8)
    line = cv2.dilate(line, np.ones((3, 1), np.uint8))  # a gently curved bridge stays one run
    across = cv2.morphologyEx(line, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)) > 0
    window = across[max(y0, 0) - top:max(y1, 1) - top, max(x0, 0) - left:max(x1, 1) - left]
    return float(window.any(axis=0).mean()) if window.size else 0.0


def rim_weight(crop: np.ndarray, painted: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(size, size) float32 weight of the target's own pixels for its glasses frame: thin dark lines
    around the eyes that ``crop`` has and ``painted`` lacks, grown by a pixel and softened."""
    import cv2

    iod = inter_ocular(points)
    width = _odd(RIM_WIDTH * iod)
    excess = (_black_hat(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), width)
              - _black_hat(cv2.cvtColor(painted, cv2.COLOR_BGR2GRAY), width))
    low, high = STRENGTH
    weight = np.clip((excess - low) / (high - low), 0.0, 1.0)
    weight *= _around_eyes(points, crop.shape[0], iod)
    weight = cv2.dilate(weight, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(weight, (0, 0), 0.7)


def _odd(value: float) -> int:
    return max(3, int(round(value)) | 1)
