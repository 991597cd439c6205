"""Preview grid and loss-curve PNGs, drawn with OpenCV (no plotting library needed)."""

from __future__ import annotations

import math

import cv2
import numpy as np


ROWS = ("A", "A->A", "A->B", "B", "B->B", "B->A")
_COLOURS = [(230, 120, 30), (40, 160, 40), (40, 40, 220), (170, 60, 170), (20, 170, 200), (120, 120, 120), (0, 0, 0), (200, 90, 140)]


def preview_grid(rows: list[np.ndarray], cell: int = 128) -> np.ndarray:
    """Rows of BGR uint8 crops (each (K,R,R,3)) -> one labelled image, faceswap's A / A->A / A->B / B / B->B / B->A."""
    label_w = 70
    k = max(len(r) for r in rows)
    grid = np.full((cell * len(rows), label_w + cell * k, 3), 255, np.uint8)
    for i, (name, row) in enumerate(zip(ROWS, rows)):
        y = i * cell
        cv2.putText(grid, name, (6, y + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for j, img in enumerate(row):
            interp = cv2.INTER_NEAREST if img.shape[0] < cell else cv2.INTER_AREA
            grid[y:y + cell, label_w + j * cell:label_w + (j + 1) * cell] = cv2.resize(img, (cell, cell), interpolation=interp)
    return grid


def loss_curve(history: dict[str, list[float]], iterations: list[int], size: tuple[int, int] = (900, 420)) -> np.ndarray:
    """Log-scale loss curves, one line per loss, with a legend; smoothed so the trend is readable."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, 170, 20, 40
    pw, ph = w - left - right, h - top - bottom
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    its_all = np.asarray(iterations, np.float64)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, v in history.items():
        v = np.asarray(v[: len(its_all)], np.float64)
        keep = np.isfinite(v)
        if keep.sum() >= 2:  # a loss that has not started yet (GAN warm-up) is NaN until it does
            series[k] = (its_all[: len(v)][keep], _smooth(v[keep]))
    if not series:
        return img
    values = np.concatenate([np.clip(v, 1e-6, None) for _, v in series.values()])
    lo, hi = math.log10(values.min()), math.log10(values.max())
    if hi - lo < 1e-3:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = iterations[0], max(iterations[-1], iterations[0] + 1)
    for tick in range(math.floor(lo), math.ceil(hi) + 1):
        y = top + ph - (tick - lo) / (hi - lo) * ph
        if top <= y <= top + ph:
            cv2.line(img, (left, int(y)), (left + pw, int(y)), (220, 220, 220), 1)
            cv2.putText(img, f"1e{tick}", (8, int(y) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"iteration {x0} .. {x1}", (left, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for n, (name, (its, v)) in enumerate(series.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        xs = left + (its - x0) / (x1 - x0) * pw
        ys = top + ph - (np.log10(np.clip(v, 1e-6, None)) - lo) / (hi - lo) * ph
        pts = np.stack([xs, ys], 1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, colour, 1, cv2.LINE_AA)
        cv2.putText(img, name, (left + pw + 10, top + 16 + 18 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return img


def _smooth(v: np.ndarray, window: int = 9) -> np.ndarray:
    if len(v) < window:
        return v
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window // 2, v[0]), v, np.full(window // 2, v[-1])])
    return np.convolve(padded, kernel, mode="valid")
