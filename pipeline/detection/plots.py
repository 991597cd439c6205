"""Line charts (training curves, ROC) drawn with OpenCV: no plotting library is a dependency."""

from __future__ import annotations

import cv2
import numpy as np

COLOURS = [(200, 110, 30), (40, 40, 220), (40, 160, 40), (170, 60, 170), (20, 170, 200), (120, 120, 120), (0, 0, 0)]


def _text(img: np.ndarray, text: str, at: tuple[int, int], colour: tuple[int, int, int] = (0, 0, 0), scale: float = 0.45) -> None:
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def line_chart(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, xlabel: str,
               x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
               diagonal: bool = False, size: tuple[int, int] = (760, 460)) -> np.ndarray:
    """Linear axes, one polyline per named series, a legend on the right."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 55, 230, 34, 44
    pw, ph = w - left - right, h - top - bottom
    xs_all = np.concatenate([np.asarray(x, np.float64) for x, _ in series.values()]) if series else np.zeros(1)
    ys_all = np.concatenate([np.asarray(y, np.float64) for _, y in series.values()]) if series else np.zeros(1)
    x0, x1 = x_range or (float(np.nanmin(xs_all)), float(np.nanmax(xs_all)))
    y0, y1 = y_range or (float(np.nanmin(ys_all)), float(np.nanmax(ys_all)))
    x1, y1 = (x1 if x1 > x0 else x0 + 1.0), (y1 if y1 > y0 else y0 + 1.0)

    def point(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = left + (np.asarray(x, np.float64) - x0) / (x1 - x0) * pw
        py = top + ph - (np.asarray(y, np.float64) - y0) / (y1 - y0) * ph
        return np.stack([px, py], 1).round().astype(np.int32)

    for k in range(6):
        yv = y0 + (y1 - y0) * k / 5
        y = int(round(top + ph - k / 5 * ph))
        cv2.line(img, (left, y), (left + pw, y), (225, 225, 225), 1)
        _text(img, f"{yv:.2f}", (6, y + 4), scale=0.4)
        xv = x0 + (x1 - x0) * k / 5
        x = int(round(left + k / 5 * pw))
        _text(img, f"{xv:g}" if xv == int(xv) else f"{xv:.2f}", (x - 10, top + ph + 16), scale=0.4)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    if diagonal:
        cv2.line(img, tuple(point(np.array([x0]), np.array([y0]))[0]), tuple(point(np.array([x1]), np.array([y1]))[0]),
                 (180, 180, 180), 1, cv2.LINE_AA)
    for n, (name, (x, y)) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 1:
            pts = point(x[keep], y[keep])
            cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
            if keep.sum() == 1:
                cv2.circle(img, tuple(pts[0]), 3, colour, -1)
        _text(img, name[:30], (left + pw + 10, top + 14 + 18 * n), colour)
    _text(img, title, (left, 22), scale=0.55)
    _text(img, xlabel, (left + pw // 2 - 40, h - 8), scale=0.45)
    return img
