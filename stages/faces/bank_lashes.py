"""B's lash line no darker against the skin than the target's.

Why: lashes, liner and mascara are what a bank person wore, not who they are. The bundled woman
wears heavy mascara; painted on a woman with fair, bare lashes it read as false lashes, and on a
smiling, turned head (``people/liveportrait_source_s32``), where her open eye is squeezed onto a
narrow one, as a black winged liner.

How: as the brows (``bank_brows``): the band round each eye's outline (grown by ``LASH_BAND``; the
white and iris deeper than ``LASH_INSIDE`` left out) is read on both faces for its mean darkness under
the socket skin round it (a ring ``SKIN_RING`` from the outline; the brows left out of both); where
B's is darker than ``MOST`` times the target's, its pixels darker than that skin are lightened towards
it, in lightness and colour, until it is not (to ``LEAST`` of its darkness at most).

Only lighter: a target's heavier make-up is not painted onto B. Measured this way the bundled man's
lash lines are no darker than those of the men of ``lp_d18`` and ``retalking_face2`` (ratios 1.0 and
0.9-1.0 over 24 frames), so their eyes stay his; lightening every lash line by its darkest pixels had
moved ``lp_d18`` painted with him from 0.41 to 0.48 from him in dlib's embedding (``bank_brows``).
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_brows import darkness_ratios, feature_box, tone_region
from stages.faces.bank_eyes import BROWS, EYES, filled_hull
from stages.faces.geometry import inter_ocular

LASH_BAND = 0.1  # x inter-ocular: the eye's outline grown by this much holds lashes, liner and a wing past the corner
LASH_INSIDE = 0.01  # x inter-ocular: the outline shrunk by this much holds the white and the iris, left alone
SKIN_RING = (0.12, 0.22)  # x inter-ocular from the outline: the socket skin a lash line's darkness is read against
BROW_MARGIN = 0.03  # x inter-ocular: a brow's outline grown by this much is left out of band and ring
MOST = 1.0  # B's lash line may be this many times as dark against the skin as the target's (1.4 left the liner's wing)
LEAST = 0.35  # and keeps at least this share of its own darkness


def _lash_regions(points: np.ndarray, eye: int,
                  size: int) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray]:
    """The box round one eye (``EYES[eye]``) and, inside it, the lash band, the socket skin ring round
    it (``SKIN_RING``), both without the brow, and the eye's white and iris (deeper than ``LASH_INSIDE``)."""
    points = np.asarray(points, np.float64)
    iod = inter_ocular(points)
    outline = points[EYES[eye]]
    x0, y0, x1, y1 = feature_box(outline, size, int(np.ceil(SKIN_RING[1] * iod)) + 1)
    inside = np.ones((max(y1 - y0, 1), max(x1 - x0, 1)), np.uint8)
    cv2.fillConvexPoly(inside, cv2.convexHull(np.round((outline - [x0, y0]) * 4).astype(np.int32)), 0, cv2.LINE_8, shift=2)
    outside = cv2.distanceTransform(inside, cv2.DIST_L2, 3)  # 0 inside the eye, distance from it outside
    depth = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)  # distance from the outline, inside the eye
    brow = filled_hull(inside.shape, points[BROWS[eye]] - [x0, y0], max(1, int(round(BROW_MARGIN * iod)))) > 0
    core = (inside == 0) & (depth >= LASH_INSIDE * iod)
    band = (outside <= LASH_BAND * iod) & ~core & ~brow
    ring = (outside > SKIN_RING[0] * iod) & (outside <= SKIN_RING[1] * iod) & ~brow
    return (x0, y0, x1, y1), band, ring, core


def lash_ratios(painted: np.ndarray, target: np.ndarray, points: np.ndarray, shaped: np.ndarray) -> np.ndarray:
    """(2,) per eye, the share of B's lash-line darkness (``painted``'s eyes on ``shaped``) to keep:
    1 where it is at most ``MOST`` times the target's (``target``'s on ``points``), else what brings
    it there, never under ``LEAST``."""
    ratios = darkness_ratios(painted, target, points, shaped, _lash_regions)
    return np.where(np.isnan(ratios), 1.0, np.clip(MOST * ratios, LEAST, 1.0)).astype(np.float32)


def toned_lashes(painted: np.ndarray, shaped: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """``painted`` with each eye's lash band (on ``shaped``) lightened towards the socket skin by
    ``ratios`` (``lash_ratios``) where it is darker than that skin, feathered at the band's edge."""
    if np.all(ratios >= 0.99):
        return painted
    out = painted.copy()
    iod = inter_ocular(shaped)
    for eye, ratio in enumerate(ratios):
        if ratio < 0.99:
            box, band, ring, core = _lash_regions(shaped, eye, painted.shape[0])
            tone_region(out, box, band, ring, float(ratio), iod, spared=core)
    return out
