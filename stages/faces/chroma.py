"""The painted face's colourfulness held within the target footage's.

Why: the colour match (``bank_warp.reinhard_map``) moves the bank face's skin to the target's mean and
spread, but keeps at least most of its spread (``COLOUR_SPREAD``) and only measures skin. On black and
white footage, or footage graded nearly so, B's blue irises, pink lips and brown brows stayed in
colour inside a grey face. Here each painted pixel's chroma (its a/b distance from the target skin's
mean colour) is held under what the target's own crop shows; in colour footage the crop's lips, hair,
clothes and background set that ceiling far above anything a face holds, so nothing changes there.
"""

from __future__ import annotations

import numpy as np

CEILING_PERCENTILE = 99.5  # of the target crop's chroma: its most colourful pixels, bar a few outliers
CEILING_MARGIN = 1.25  # x that percentile, plus CEILING_FLOOR: compression noise and a tint stay free
CEILING_FLOOR = 1.0  # Lab a/b levels: rounding; a grey crop holds no more


def chroma_ceiling(crop: np.ndarray, centre: np.ndarray) -> float:
    """Largest a/b distance from ``centre`` (Lab a, b of the target's skin, OpenCV's 8-bit scale)
    a painted pixel may have: ``CEILING_MARGIN`` x the crop's ``CEILING_PERCENTILE`` + ``CEILING_FLOOR``."""
    import cv2

    ab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 1:].reshape(-1, 2).astype(np.float32)
    distance = np.hypot(*(ab - np.asarray(centre, np.float32)).T)
    return float(np.percentile(distance, CEILING_PERCENTILE)) * CEILING_MARGIN + CEILING_FLOOR


def pull_within(lab: np.ndarray, centre: np.ndarray, ceiling: float) -> None:
    """In place: the a/b of every pixel of ``lab`` (float32 Lab, OpenCV's 8-bit scale) further than
    ``ceiling`` from ``centre`` pulled in along the same hue to ``ceiling``; lightness and the other
    pixels are untouched."""
    import cv2

    a, b = lab[..., 1] - np.float32(centre[0]), lab[..., 2] - np.float32(centre[1])
    distance = cv2.magnitude(a, b)
    rows, cols = np.nonzero(distance > ceiling)
    if rows.size:
        scale = np.float32(ceiling) / distance[rows, cols]
        lab[rows, cols, 1] = np.float32(centre[0]) + a[rows, cols] * scale
        lab[rows, cols, 2] = np.float32(centre[1]) + b[rows, cols] * scale
