"""The occlusion attack on one face: place, classify, keep going until fooled or out of queries.

The classifier sees what a re-scoring of the written frame would see: the occluded frame cut out
again with the face's own alignment matrix, at the crop size. Only the region of interest around the
crop is copied per query, so a query costs the same on any video size. The crop is sampled with
``cv2.remap`` at coordinates snapped to OpenCV's 1/32-pixel interpolation grid, so cutting it from
the region of interest gives the same bytes as cutting it from the whole frame (``warpAffine`` does
not: it computes coordinates in float32, whose rounding depends on their magnitude).

Search: a (1 + lambda) random search. The first batch is fresh random placements (the first is the
one a non-attack run would draw); later batches are three quarters mutations of the best so far, with
a step that shrinks as the budget is used, and one quarter fresh draws so the search can leave a poor
basin. The budget counts every crop the classifier scores for this face, the unoccluded one included.
The best placement is kept only if it lowers P(fake); otherwise the face is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from stages.occlusion.occluders import Drawn, Placement, draw_placement, mutate

Render = Callable[[Placement], Drawn]
Score = Callable[[np.ndarray], np.ndarray]


@dataclass
class AttackOutcome:
    before: float  # P(fake) of the unoccluded face
    after: float  # P(fake) with the kept occlusion (== before when none is kept)
    queries: int
    fooled: bool  # after < threshold
    drawn: Drawn | None  # the kept occlusion; None if the face passed as real already or nothing helped
    placement: Placement | None


class CropSampler:
    """Cuts the ``size`` crop of ``matrix`` (frame -> crop) from the frame or from a region of it."""

    def __init__(self, matrix: np.ndarray, size: int) -> None:
        import cv2
        inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
        # frame coordinates of every crop pixel, snapped to the 1/32 px grid remap interpolates on
        self.x = np.round((inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) * 32.0) / 32.0
        self.y = np.round((inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) * 32.0) / 32.0
        self.size = size
        self._maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def cut(self, image: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """The crop from ``image``, which is the frame's region whose top-left pixel is ``origin``."""
        import cv2
        maps = self._maps.get(origin)
        if maps is None:
            maps = ((self.x - origin[0]).astype(np.float32), (self.y - origin[1]).astype(np.float32))
            self._maps[origin] = maps
        return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def cut_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop the classifier scores, from a whole frame (what re-scoring a written frame does)."""
    return CropSampler(matrix, size).cut(image)


def union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def search(render: Render, score_crops: Score, crop: Callable[[np.ndarray], np.ndarray], base: np.ndarray,
           first: Placement, rng: np.random.Generator, budget: int, threshold: float, batch: int) -> AttackOutcome:
    """Search placements until P(fake) < ``threshold`` or ``budget`` crops have been scored."""
    before = float(score_crops(crop(base)[None])[0])
    queries = 1
    if before < threshold:
        return AttackOutcome(before, before, queries, True, None, None)
    best_score, best_drawn, best_placement = np.inf, None, None
    while queries < budget and best_score >= threshold:
        n = min(batch, budget - queries)
        progress = (queries - 1) / max(1, budget - 1)
        sigma = 0.3 * (1.0 - progress) + 0.04 * progress
        candidates: list[Placement] = []
        for k in range(n):
            if best_placement is None:
                candidates.append(first if k == 0 else draw_placement(rng))
            elif rng.random() < 0.25:
                candidates.append(draw_placement(rng))
            else:
                candidates.append(mutate(best_placement, rng, sigma))
        drawn = [render(p) for p in candidates]
        scores = score_crops(np.stack([crop(d.image) for d in drawn]))
        queries += n
        k = int(np.argmin(scores))
        if scores[k] < best_score:
            best_score, best_drawn, best_placement = float(scores[k]), drawn[k], candidates[k]
    if best_drawn is None or best_score >= before:
        # Budget of 1 (only the baseline scored), or no occlusion helped: an attacker leaves the face alone.
        return AttackOutcome(before, before, queries, False, None, None)
    return AttackOutcome(before, best_score, queries, best_score < threshold, best_drawn, best_placement)
