"""One-Euro filtering of landmark tracks, so that the crop of a still face does not shake.

The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) is a low-pass filter whose cut-off rises
with speed: a still face is smoothed hard (jitter removed), a moving face barely (little lag).
Here speed is measured per point as a 2-D speed in *face sizes per second* rather than pixels, so
one set of parameters behaves the same on a 60 px face and on a 600 px one, at any frame rate
(the filter uses real time stamps).
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with the given cut-off (Hz) and step (s)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an (N, 2) array of points.

    ``min_cutoff`` (Hz): smoothing of a still face; lower removes more jitter and adds lag.
    ``beta``: how fast the cut-off rises with speed (per face size per second).
    ``d_cutoff`` (Hz): smoothing of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._value = self._speed = self._time = None

    def __call__(self, points: np.ndarray, time: float, scale: float) -> np.ndarray:
        """Filter one observation taken at ``time`` seconds; ``scale`` is the face size in pixels."""
        x = np.asarray(points, dtype=np.float64)
        if self._value is None or self._time is None or time <= self._time:
            # First sample, or time did not advance (duplicate/out of order): take it as is.
            self._value, self._speed, self._time = x.copy(), np.zeros(len(x)), time
            return x.copy()
        dt = time - self._time
        scale = max(float(scale), 1e-6)
        speed = np.linalg.norm(x - self._value, axis=-1) / dt / scale
        a_d = _alpha(self.d_cutoff, dt)
        self._speed = a_d * speed + (1.0 - a_d) * self._speed
        cutoff = self.min_cutoff + self.beta * self._speed
        a = np.asarray(_alpha(cutoff, dt))[..., None]
        self._value = a * x + (1.0 - a) * self._value
        self._time = time
        return self._value.copy()
