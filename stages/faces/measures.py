"""Measures of a swapped face against its input, from the 68 iBUG landmarks and the pixels.

Used by ``bench/quality.py`` and by the quality tests, so the numbers the README quotes and the
numbers the tests assert are computed the same way. All inputs are frame pixels (BGR uint8) and
68-point landmarks in frame coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.geometry import inter_ocular

INNER_LIP_TOP = (61, 62, 63)
INNER_LIP_BOTTOM = (67, 66, 65)
OUTER_LIPS = slice(48, 60)


def mouth_opening(landmarks: np.ndarray) -> float:
    """Gap between the inner lips over the inter-ocular distance (0 = closed)."""
    p = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(p[list(INNER_LIP_TOP)] - p[list(INNER_LIP_BOTTOM)], axis=1).mean()
    return float(gap / max(inter_ocular(p), 1e-6))


def eye_opening(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes (lid gap over eye width)."""
    p = np.asarray(landmarks, np.float64)
    ratios = []
    for a, b, c, d, left, right in ((37, 41, 38, 40, 36, 39), (43, 47, 44, 46, 42, 45)):
        gap = (np.linalg.norm(p[a] - p[b]) + np.linalg.norm(p[c] - p[d])) / 2
        ratios.append(gap / max(np.linalg.norm(p[left] - p[right]), 1e-6))
    return float(np.mean(ratios))


def face_region(shape: tuple[int, ...], landmarks: np.ndarray, shrink: float = 0.1) -> np.ndarray:
    """Boolean mask of the inner face: the hull of jaw and brows, eroded by ``shrink`` x inter-ocular."""
    mask = np.zeros(shape[:2], np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(landmarks)[:27]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    k = int(round(shrink * inter_ocular(landmarks)))
    if k >= 1:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    return mask.astype(bool)


def laplacian_variance(image: np.ndarray, region: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside ``region``: the usual focus measure."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    lap = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3)
    values = lap[region]
    return float(values.var()) if values.size else 0.0


def lab_mean(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Mean CIE L*a*b* (L 0..100, a/b signed) inside ``region``: (3,) float."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    return lab[region].mean(axis=0) if region.any() else np.zeros(3)


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """PSNR (dB) of ``a`` against ``b`` inside ``region``; inf when identical."""
    if not region.any():
        return float("inf")
    diff = a[region].astype(np.float64) - b[region].astype(np.float64)
    mse = float((diff ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def kept_share(output: np.ndarray, original: np.ndarray, region: np.ndarray, tolerance: int = 12) -> float:
    """Share of ``region``'s pixels whose every channel is within ``tolerance`` levels of the original."""
    if not region.any():
        return float("nan")
    diff = np.abs(output.astype(np.int16) - original.astype(np.int16)).max(axis=2)
    return float((diff[region] <= tolerance).mean())


def correlation(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> float:
    """Pearson correlation; nan when either series is constant or too short."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
