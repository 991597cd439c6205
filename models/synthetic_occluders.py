"""Synthetic occluders composited onto aligned face crops: training pairs for the face segmenter.

Why these kinds: the occluders that matter in real video are hands and fingers, which have the
face's own skin colour, so colour alone cannot separate them. Fingers are drawn as capsules in the
face's skin tone with cylinder shading, dark gaps and nails, coming in from the crop's border the way
a hand enters the picture; objects are the keyed occluder photos (surgical masks); patches are
textured shapes cut from other faces (so the network cannot key on "foreign colour"); strands are
thin dark curves (hair). A share of samples get no occluder, so the network does not learn to erase.

``occlude_sample(crop, hull, rng, others, objects) -> (image, visible)``: crop BGR uint8 (S,S,3), hull
float (S,S) 0..1; visible = hull and not occluded, float32.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.media.occluder_images import OccluderImage

KIND_WEIGHTS = {"fingers": 0.45, "object": 0.1, "patch": 0.15, "strands": 0.08, "none": 0.22}


def _skin_colour(crop: np.ndarray, hull: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    inside = crop[hull > 0.5]
    base = np.median(inside, axis=0) if len(inside) else np.array([120, 140, 180], np.float64)
    return np.clip(base * rng.uniform(0.8, 1.25) + rng.normal(0, 6, 3), 0, 255)


def fingers(crop: np.ndarray, hull: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A hand entering from a border: 1-4 parallel capsules (fingers) and sometimes a palm."""
    s = crop.shape[0]
    colour = _skin_colour(crop, hull, rng)
    count = int(rng.integers(1, 5))
    width = rng.uniform(0.07, 0.13) * s
    angle = rng.uniform(-np.pi, np.pi) if rng.random() < 0.3 else rng.uniform(-np.pi * 0.85, -np.pi * 0.15)  # mostly upwards
    direction = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-direction[1], direction[0]])
    tip_centre = np.array([s * rng.uniform(0.25, 0.75), s * rng.uniform(0.25, 0.8)])
    shade = np.zeros((s, s), np.float32)
    alpha = np.zeros((s, s), np.float32)
    gaps = np.zeros((s, s), np.float32)
    nails = np.zeros((s, s), np.float32)
    for k in range(count):
        offset = (k - (count - 1) / 2) * width * rng.uniform(0.95, 1.15)
        length = rng.uniform(0.35, 0.6) * s
        tip = tip_centre + across * offset + direction * rng.normal(0, 0.04 * s)
        base = tip - direction * (length + s)  # runs off the crop
        one = np.zeros((s, s), np.uint8)
        w = int(max(2, round(width * rng.uniform(0.85, 1.1))))
        cv2.line(one, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)), 255, w, cv2.LINE_AA)
        inside = one.astype(np.float32) / 255
        dist = cv2.distanceTransform((one > 127).astype(np.uint8), cv2.DIST_L2, 3)
        shade = np.maximum(shade, np.sqrt(np.clip(dist / (w / 2), 0, 1)) * (inside > 0.5))
        edge = cv2.dilate(one, np.ones((3, 3), np.uint8)) - one
        gaps = np.maximum(gaps, edge.astype(np.float32) / 255)
        alpha = np.maximum(alpha, inside)
        if rng.random() < 0.6:
            nail_at = tip - direction * w * 0.45
            cv2.ellipse(nails, tuple(np.round(nail_at).astype(int)), (max(1, w // 4), max(1, w // 3)),
                        float(np.degrees(angle)) + 90, 0, 360, 1.0, -1)
    if rng.random() < 0.5:  # a palm or the back of the hand below the fingers
        palm_at = tip_centre - direction * rng.uniform(0.45, 0.7) * s
        axes = (int(width * count * 0.7 + 4), int(0.3 * s))
        cv2.ellipse(alpha, tuple(np.round(palm_at).astype(int)), axes, float(np.degrees(angle)) + 90, 0, 360, 1.0, -1)
        cv2.ellipse(shade, tuple(np.round(palm_at).astype(int)), axes, float(np.degrees(angle)) + 90, 0, 360, 0.8, -1)
    light = 0.7 + 0.4 * shade + rng.normal(0, 0.03, (s, s)).astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (s, s)).astype(np.float32), (0, 0), 1.0) * rng.uniform(2, 8)
    image = colour[None, None, :] * light[..., None] + texture[..., None]
    image = image * (1 - 0.45 * gaps[..., None]) + nails[..., None] * rng.uniform(15, 40)
    image = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.float32), (0, 0), rng.uniform(0.3, 1.0))
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.7)
    return image, alpha


def _object(crop: np.ndarray, rng: np.random.Generator, objects: list[OccluderImage]) -> tuple[np.ndarray, np.ndarray]:
    """An occluder photo (e.g. a surgical mask) over the lower face, scaled and turned a little."""
    s = crop.shape[0]
    obj = objects[int(rng.integers(len(objects)))]
    width = s * rng.uniform(0.45, 0.9)
    scale = width / obj.bgr.shape[1]
    centre = (s * rng.uniform(0.35, 0.65), s * rng.uniform(0.55, 0.85))
    matrix = cv2.getRotationMatrix2D((obj.bgr.shape[1] / 2, obj.bgr.shape[0] / 2), rng.uniform(-20, 20), scale)
    matrix[:, 2] += np.array(centre) - np.array([obj.bgr.shape[1] / 2, obj.bgr.shape[0] / 2])
    image = cv2.warpAffine(obj.bgr, matrix, (s, s), flags=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.warpAffine(obj.alpha, matrix, (s, s), flags=cv2.INTER_LINEAR)
    return image * rng.uniform(0.7, 1.1), alpha


def _patch(crop: np.ndarray, rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random polygon or ellipse filled with texture from another face crop (or a flat colour)."""
    s = crop.shape[0]
    alpha = np.zeros((s, s), np.float32)
    if rng.random() < 0.5:
        points = rng.uniform(0, s, (int(rng.integers(3, 7)), 2)).astype(np.int32)
        cv2.fillConvexPoly(alpha, cv2.convexHull(points), 1.0, cv2.LINE_AA)
    else:
        centre = tuple(int(v) for v in rng.uniform(0.1, 0.9, 2) * s)
        axes = tuple(int(v) for v in rng.uniform(0.08, 0.35, 2) * s)
        cv2.ellipse(alpha, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    if len(others) and rng.random() < 0.7:
        other = others[int(rng.integers(len(others)))][..., :3]
        other = cv2.resize(other, (s, s))
        shift = rng.integers(-s // 3, s // 3 + 1, 2)
        image = np.roll(other, tuple(shift), axis=(0, 1)).astype(np.float32)
        if rng.random() < 0.5:
            image = image[:, ::-1]
    else:
        image = np.broadcast_to(rng.uniform(0, 255, 3), (s, s, 3)).astype(np.float32)
        image = image + rng.normal(0, rng.uniform(0, 20), (s, s, 1))
    return image, alpha


def _strands(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark curves from the top border: hair over the forehead and eyes."""
    s = crop.shape[0]
    alpha = np.zeros((s, s), np.float32)
    colour = rng.uniform(10, 90) * np.array([1.0, rng.uniform(1.0, 1.3), rng.uniform(1.1, 1.8)])
    for _ in range(int(rng.integers(5, 30))):
        x = rng.uniform(0, s)
        points = [(x + rng.normal(0, 0.02 * s) * t + rng.uniform(-0.1, 0.1) * s * t / 4, t * s / 8)
                  for t in range(int(rng.integers(3, 8)))]
        cv2.polylines(alpha, [np.round(points).astype(np.int32)], False, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA)
    image = np.broadcast_to(colour, (s, s, 3)).astype(np.float32)
    return image, alpha


def occlude_sample(crop: np.ndarray, hull: np.ndarray, rng: np.random.Generator, others: np.ndarray,
                   objects: list[OccluderImage]) -> tuple[np.ndarray, np.ndarray]:
    """One training pair: the crop with an occluder composited in, and the visible-face mask."""
    kinds, weights = zip(*KIND_WEIGHTS.items())
    kind = kinds[int(rng.choice(len(kinds), p=np.array(weights) / sum(weights)))]
    image = crop[..., :3].astype(np.float32)
    visible = (hull > 0.5).astype(np.float32)
    if kind == "none" or (kind == "object" and not objects):
        return np.clip(image, 0, 255).astype(np.uint8), visible
    if kind == "fingers":
        content, alpha = fingers(crop, hull, rng)
    elif kind == "object":
        content, alpha = _object(crop, rng, objects)
    elif kind == "patch":
        content, alpha = _patch(crop, rng, others)
    else:
        content, alpha = _strands(crop, rng)
    a = np.clip(alpha, 0, 1)[..., None]
    image = content * a + image * (1 - a)
    visible = visible * (alpha < 0.5)
    return np.clip(image, 0, 255).astype(np.uint8), visible.astype(np.float32)
