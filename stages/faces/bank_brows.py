"""B's brows no darker against the skin than the target's.

Why: brows are hair, and a head's hair colour is the target's. The bundled woman's dark, groomed
brows sat on fair-haired women as two dark bars (``people_extra``: a blonde woman outdoors, a woman
with light brows on a green backdrop), a cue a viewer reads at once. Their shape stays B's; only
how much darker than the skin around them they are is brought down to the target's brows' own.

Only lighter, and only the brows. Taking B's lash lines and nostrils to the target's too moved
``lp_d18`` painted with the bundled man from 0.41 to 0.48 from him in dlib's embedding and turned
eye_tone red; the brows alone left it where it was (0.445 and 0.442 over 60 frames).
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_eyes import BROWS
from stages.faces.geometry import inter_ocular

BROW_GROW = 0.06  # x inter-ocular: the brow's hull grown by this much holds the whole brow
RING = 3  # the skin ring round a brow reaches this many times BROW_GROW past its hull
LEAST = 0.35  # B's brow keeps at least this share of its darkness against the skin


def _hull(points: np.ndarray, size: int, grow: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points * 4).astype(np.int32)), 1, cv2.LINE_8, shift=2)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)) > 0


def brow_darkness(lightness: np.ndarray, points: np.ndarray, brow: int) -> tuple[float, float, np.ndarray] | None:
    """(how much darker than the skin round it, that skin's lightness, the brow's region) of one brow
    (``BROWS[brow]``) of a face with landmarks ``points`` in a crop's lightness: the ring's median
    less the brow region's 10th percentile. None where either region is too small to read."""
    size = lightness.shape[0]
    grow = max(1, int(round(BROW_GROW * inter_ocular(points))))
    outline = np.asarray(points, np.float64)[BROWS[brow]]
    region = _hull(outline, size, grow)
    ring = _hull(outline, size, RING * grow) & ~region
    if region.sum() < 8 or ring.sum() < 8:
        return None
    skin = float(np.median(lightness[ring]))
    return skin - float(np.percentile(lightness[region], 10)), skin, region


def brow_ratios(painted: np.ndarray, target: np.ndarray, points: np.ndarray, shaped: np.ndarray) -> np.ndarray:
    """(2,) per brow, the share of B's brow darkness (``painted``'s brows on ``shaped``) that the
    target's (``target``'s on ``points``) calls for: 1 where the target's are as dark or darker,
    never under ``LEAST``."""
    lightness = [cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32) for image in (painted, target)]
    ratios = np.ones(2, np.float32)
    for brow in range(2):
        bank, own = brow_darkness(lightness[0], shaped, brow), brow_darkness(lightness[1], points, brow)
        if bank is not None and own is not None and bank[0] > 1.0:
            ratios[brow] = np.clip(own[0] / bank[0], LEAST, 1.0)
    return ratios


def lighter_brows(painted: np.ndarray, shaped: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """``painted`` with each brow's difference from the skin round it (on ``shaped``), in lightness
    and colour, scaled by ``ratios`` (``brow_ratios``) where it is darker than that skin, feathered at
    the brow's edge."""
    if np.all(ratios >= 0.99):
        return painted
    lab = cv2.cvtColor(painted, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness = lab[..., 0]
    iod = inter_ocular(shaped)
    for brow, ratio in enumerate(ratios):
        read = brow_darkness(lightness, shaped, brow)
        if ratio >= 0.99 or read is None:
            continue
        _, skin, region = read
        grow = max(1, int(round(BROW_GROW * iod)))
        ring = _hull(np.asarray(shaped, np.float64)[BROWS[brow]], lab.shape[0], RING * grow) & ~region
        skin_colour = np.array([skin, *np.median(lab[ring][:, 1:], axis=0)], np.float32)
        weight = cv2.GaussianBlur(region.astype(np.float32), (0, 0), max(0.5, 0.02 * iod))
        darker = (lightness < skin) & (weight > 1e-3)
        # towards the skin round it, lightness and colour alike: a lighter brow is a fairer hair, not a
        # greyer one (lightness alone turned a dark brown brow mauve on a warm face)
        lifted = skin_colour + (lab[darker] - skin_colour) * np.float32(ratio)
        lab[darker] += (lifted - lab[darker]) * weight[darker][:, None]
    return cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
