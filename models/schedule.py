"""The learning-rate schedule every trainer here uses: cosine decay to a floor over the run.

Why a floor: the last part of a short CPU run still moves the weights (to 5 % of the start rate by
default) instead of stalling at zero.
"""

from __future__ import annotations

import math


def cosine_to_floor(progress: float, floor: float = 0.05) -> float:
    """The factor on the base learning rate at ``progress`` (0 = start, 1 = end; clipped beyond)."""
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
