"""Painting a bank face onto a target crop: a piecewise-affine warp, Reinhard colour and a face mask.

Why piecewise affine (one affine map per Delaunay triangle of the 68 landmarks plus a ring of
border points): it puts every bank landmark exactly on the target's, so the painted eyes, lips and
jaw sit where the target's are and move with them, and it costs one ``cv2.remap``. The triangles
are fixed once, on the mean face, so the mesh never changes topology from frame to frame (a fresh
Delaunay per frame would flip edges and make the skin shimmer). Border points follow the similarity
between the two faces, so outside the face the warp is a plain similarity.

Why Reinhard colour here: the bank was filmed in other light; matching the mean and spread of each
Lab channel inside the face brings its skin to the target's before the blend stage pastes it.
"""

from __future__ import annotations

import functools

import numpy as np

from stages.faces.geometry import ALIGN_POINTS, BROWS, template_in_crop, transform, umeyama

STATS_SIZE = 64  # colour statistics on a 64x64 copy: the same numbers, a fraction of the work
_BORDER_STEPS = 5  # border points per side of the crop (corners shared)


def border_points(size: int) -> np.ndarray:
    """A ring of points just outside a ``size`` crop, so the mesh covers every pixel."""
    t = np.linspace(-1.0, size, _BORDER_STEPS)
    low, high = np.full_like(t, -1.0), np.full_like(t, float(size))
    inner = t[1:-1]
    return np.concatenate([np.stack([t, low], 1), np.stack([t, high], 1),
                           np.stack([np.full_like(inner, -1.0), inner], 1),
                           np.stack([np.full_like(inner, float(size)), inner], 1)])


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(T, 3) point indices of the Delaunay triangles of the mean face plus the border ring."""
    from scipy.spatial import Delaunay

    size = 256
    points = np.concatenate([template_in_crop(size), border_points(size)])
    return np.asarray(Delaunay(points).simplices, np.int32)


def _affines(source: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle the (2, 3) map from target pixels to source pixels, and which are usable (area > 0)."""
    tgt = target[triangles]  # (T, 3, 2)
    src = source[triangles]
    tgt_h = np.concatenate([tgt, np.ones((len(triangles), 3, 1))], axis=2)  # (T, 3, 3): rows x, y, 1
    det = np.linalg.det(tgt_h)
    usable = np.abs(det) > 1e-3
    safe = np.where(usable[:, None, None], tgt_h, np.eye(3))
    # src^T = A @ tgt_h^T  ->  A = src^T @ inv(tgt_h^T)
    return np.einsum("tij,tjk->tik", src.transpose(0, 2, 1), np.linalg.inv(safe.transpose(0, 2, 1))), usable


def warp_face(bank_crop: np.ndarray, bank_points: np.ndarray, target_points: np.ndarray, size: int) -> np.ndarray:
    """The bank crop warped so its 68 landmarks land on ``target_points`` (a ``size`` crop)."""
    import cv2

    bank_points = np.asarray(bank_points, np.float64)
    target_points = np.asarray(target_points, np.float64)
    to_bank = umeyama(target_points[ALIGN_POINTS], bank_points[ALIGN_POINTS])
    ring = border_points(size)
    source = np.concatenate([bank_points, transform(ring, to_bank)])
    target = np.concatenate([target_points, ring])
    triangles = mesh_triangles()
    affines, usable = _affines(source, target, triangles)
    # triangle index per target pixel; -1 (uncovered, or a flat triangle) falls back to the similarity
    labels = np.full((size, size), -1, np.int32)
    corners = np.round(target[triangles] * 16).astype(np.int32)
    for number in np.flatnonzero(usable):
        cv2.fillConvexPoly(labels, corners[number], int(number), lineType=cv2.LINE_8, shift=4)
    table = np.concatenate([affines, to_bank[None]], axis=0).astype(np.float32)
    chosen = table[labels]  # label -1 picks the last row: the similarity
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    return cv2.remap(bank_crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_mask(target_points: np.ndarray, size: int, forehead: float = 0.15, erode: float = 0.015,
              feather: float = 0.03) -> np.ndarray:
    """Float32 (size x size) mask: the landmark hull with the brows raised by ``forehead`` x the
    nose-to-chin length, eroded and feathered (fractions of the crop side) so its soft edge lies inside
    the face, where bank and target skin are both face."""
    import cv2

    points = np.asarray(target_points, np.float64)
    up = points[27] - points[8]
    outline = np.vstack([points[:27], points[BROWS] + forehead * up])
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(outline * 16).astype(np.int32)), 255, cv2.LINE_AA, shift=4)
    radius = int(round(erode * size))
    if radius >= 1:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    sigma = feather * size / 3
    if sigma >= 0.3:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask.astype(np.float32) / 255.0


def skin_mask(points: np.ndarray, size: int, erode: float = 0.05) -> np.ndarray:
    """Float32 mask of the inner face (landmark hull, no forehead, eroded by ``erode`` x the crop side):
    what colour statistics are measured on. The forehead and the hull's rim hold hair, a fringe or
    background on one face and skin on the other, which would pull the colour match off."""
    return face_mask(points, size, forehead=0.0, erode=erode, feather=0.0)


def lab_stats(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(2, 3) weighted mean and standard deviation of each Lab channel."""
    import cv2

    if image.shape[0] > STATS_SIZE:
        image = cv2.resize(image, (STATS_SIZE, STATS_SIZE), interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, (STATS_SIZE, STATS_SIZE), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32).reshape(-1, 3)
    w = weights.reshape(-1, 1).astype(np.float32)
    total = max(float(w.sum()), 1e-6)
    mean = (lab * w).sum(axis=0) / total
    std = np.sqrt(((lab - mean) ** 2 * w).sum(axis=0) / total) + 1e-3
    return np.stack([mean, std])


def reinhard(image: np.ndarray, target: np.ndarray, mask: np.ndarray, spread: float = 1.5) -> np.ndarray:
    """``image`` with the Lab mean and spread of ``target`` inside ``mask``. The spread ratio is kept
    within 1/``spread``..``spread``: stretching a flat-lit face's contrast to a side-lit one's turns
    stubble and pores into dirt."""
    import cv2

    (source_mean, source_std), (target_mean, target_std) = lab_stats(image, mask), lab_stats(target, mask)
    ratio = np.clip(target_std / source_std, 1.0 / spread, spread)
    offset = target_mean - source_mean * ratio
    tables = [np.clip(np.arange(256) * ratio[c] + offset[c] + 0.5, 0, 255).astype(np.uint8) for c in range(3)]
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    return cv2.cvtColor(cv2.merge([cv2.LUT(lab[..., c], tables[c]) for c in range(3)]), cv2.COLOR_LAB2BGR)
