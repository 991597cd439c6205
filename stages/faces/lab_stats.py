"""Weighted Lab colour statistics of a face: what colour matching (the blend's, the bank's) moves."""

from __future__ import annotations

import numpy as np

STATS_SIZE = 64  # statistics on a 64x64 copy: the same numbers, 16x less work at 256 px


def lab_stats(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(2, 3) float32: the weighted mean and standard deviation of each Lab channel."""
    import cv2  # here, not at the top: the stage modules import this before a run needs OpenCV

    if image.shape[0] > STATS_SIZE:
        image = cv2.resize(image, (STATS_SIZE, STATS_SIZE), interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, (STATS_SIZE, STATS_SIZE), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32).reshape(-1, 3)
    w = weights.reshape(-1, 1).astype(np.float32)
    total = max(float(w.sum()), 1e-6)
    mean = (lab * w).sum(axis=0) / total
    std = np.sqrt(((lab - mean) ** 2 * w).sum(axis=0) / total) + 1e-3
    return np.stack([mean, std])
