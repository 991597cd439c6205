"""Where an eye looks: its iris read along the eye, and a painted iris moved to the target's.

Why: a bank face is picked by the shape of its lids, brows and mouth (``bank_match``); its gaze comes
with it. The bundled man looks straight into the lens in most of his footage, and a target who looks
aside got his eyes staring out of the frame; the bundled woman's gaze drifts up and sideways. Eyes
that look elsewhere than the head is turned are a tell viewers name ("eyes slightly misaligned", "a
frontal eye in a turned head").

The iris is the darkest part of the open eye: its centre is read as the darkness-weighted centroid
inside the lid outline (shrunk by a pixel, so the lash line counts little), as a fraction of the way
from the eye's first corner to its last (``IrisReading.along``). Only the position along the eye is
moved: up and down, the lids follow the gaze and the landmark match already pairs them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stages.faces.bank_eyes import EYES, eye_axis, lid_gaps
from stages.faces.geometry import polygon_mask

DARK_PERCENTILE = 70  # darkness is measured under this percentile of the eye's lightness: the white and lit lid excluded
LEAST_CONTRAST = 12.0  # L levels: an eye whose iris is darker than its white by less reads nothing (blur, a shadowed socket)
LEAST_OPEN = 0.2  # lid gap over eye width: a narrower eye shows too little iris to read
IRIS_HALF = 0.2  # x the eye's width: the iris's half-width, moved whole; the white either side is stretched
MOST_TURN = 0.2  # x the eye's width: the largest move of a painted iris (a wrong reading must stay small)
MARGIN = 0.06  # x the eye's width: how close to a corner a moved iris's edge may come


@dataclass(frozen=True)
class IrisReading:
    """One eye's iris: ``along`` its corner-to-corner axis (0 at the first corner, 1 at the second),
    and how much darker it is than the rest of the eye (``contrast``, L levels)."""

    along: float
    contrast: float


def _frame(points: np.ndarray, eye: slice) -> tuple[np.ndarray, np.ndarray, float]:
    """The eye's first corner, unit axis towards its second corner (``bank_eyes.eye_axis``), and its width."""
    outline = np.asarray(points[eye], np.float64)
    along, width = eye_axis(outline)
    return outline[0], along / max(width, 1e-6), width


def read_iris(image: np.ndarray, points: np.ndarray, eye: slice) -> IrisReading | None:
    """The iris of one eye of ``image`` (BGR) outlined by ``points``, or None where the eye is too
    shut, too small or too flat to read (``LEAST_OPEN``, ``LEAST_CONTRAST``)."""
    start, axis, width = _frame(points, eye)
    if width < 8 or lid_gaps(np.asarray(points, np.float64))[EYES.index(eye)] < LEAST_OPEN * width:
        return None
    outline = np.asarray(points[eye], np.float64)
    x0, y0 = np.maximum(np.floor(outline.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.ceil(outline.max(axis=0)).astype(int) + 2
    window = image[y0:y1, x0:x1]
    if window.shape[0] < 3 or window.shape[1] < 3:
        return None
    inside = polygon_mask(outline - [x0, y0], window.shape[:2])
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if inside.sum() < 12:
        return None
    lightness = cv2.cvtColor(np.ascontiguousarray(window), cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    values = lightness[inside]
    light = float(np.percentile(values, DARK_PERCENTILE))
    darkness = np.clip(light - lightness, 0.0, None) * inside
    weights = darkness * darkness
    total = float(weights.sum())
    if total <= 0.0:
        return None
    contrast = float((darkness * weights).sum() / total)
    if contrast < LEAST_CONTRAST:
        return None
    ys, xs = np.mgrid[y0:y0 + window.shape[0], x0:x0 + window.shape[1]]
    centre = np.array([(weights * xs).sum(), (weights * ys).sum()]) / total
    return IrisReading(float((centre - start) @ axis / width), contrast)


def _along_map(old: float, new: float) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear map (knots in eye-axis fractions) from where a pixel lands to where it is
    read: the iris's band (``IRIS_HALF`` either side) moves whole from ``old`` to ``new``, the white
    between it and each corner is stretched or squeezed, the corners stay."""
    half = IRIS_HALF
    return (np.array([0.0, new - half, new + half, 1.0]), np.array([0.0, old - half, old + half, 1.0]))


def turned_to(image: np.ndarray, points: np.ndarray, eye: slice, old: float, new: float) -> np.ndarray:
    """``image`` with the iris of the eye outlined by ``points`` moved along the eye from ``old`` to
    ``new`` (``IrisReading.along``), inside the lids only (their outline and the skin stay). ``new``
    is kept within ``MOST_TURN`` of ``old`` and the iris's edge ``MARGIN`` from either corner."""
    half = IRIS_HALF
    new = float(np.clip(new, old - MOST_TURN, old + MOST_TURN))
    new = float(np.clip(new, half + MARGIN, 1.0 - half - MARGIN))
    old = float(np.clip(old, half + MARGIN, 1.0 - half - MARGIN))
    if abs(new - old) < 0.01:
        return image
    start, axis, width = _frame(points, eye)
    outline = np.asarray(points[eye], np.float64)
    x0, y0 = np.maximum(np.floor(outline.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(outline.max(axis=0)).astype(int) + 3, image.shape[1::-1])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return image
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    offset = np.stack([xs - start[0], ys - start[1]], axis=-1)
    along = offset @ axis / width
    knots, reads = _along_map(old, new)
    source_along = np.interp(along, knots, reads)
    shift = (source_along - along)[..., None] * width * axis
    map_x = (xs + shift[..., 0]).astype(np.float32)
    map_y = (ys + shift[..., 1]).astype(np.float32)
    moved = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = polygon_mask(outline - [x0, y0], (y1 - y0, x1 - x0)).astype(np.float32)
    inside = cv2.GaussianBlur(inside, (3, 3), 0)[..., None]
    result = image.copy()
    window = result[y0:y1, x0:x1].astype(np.float32)
    result[y0:y1, x0:x1] = np.clip(window + inside * (moved.astype(np.float32) - window) + 0.5, 0, 255).astype(np.uint8)
    return result
