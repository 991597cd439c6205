"""B's shine no brighter than the target's: the bank face's highlights taken down to the scene's.

Why: a bank face keeps the light it was filmed in. The bundled man was filmed front-lit with a shiny
brow ridge, so after the colour and light match (whose fields are wider than a highlight) a pale
streak stayed on the bridge of his nose and between his brows, and his cheeks under the eyes stayed
lit, on targets lit from the side or above. Two of the three blind judges of round 22 named it on
``retalking_face2`` ("a lighter band at the brows where the swapped face meets the forehead", "a pale
patch at the bridge of the nose"), with the waxy, flat face all three named.

How: a face's shine is its skin lightness at highlight size (a blur ``SHINE_DETAIL`` inter-ocular
distances wide) above the skin's slow light around it (``SHINE_BASE`` wide), both read as normalised
convolutions on skin without the eyes, brows and lips, so a white eye or a dark brow is no shine.
Where B's shine exceeds the target's at the same place (both faces are on the same landmarks), the
excess is taken off B's lightness by a factor on its colour (a shade is less light, not a more
colourful skin: ``shine_factor``). Only down: a target's own highlight is not painted onto B, B's features and texture
finer than a highlight stay, and nothing of the target's pixels is copied.
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_warp import without_features
from stages.faces.geometry import inter_ocular

SHINE_DETAIL = 0.03  # x inter-ocular: a highlight on a nose bridge or a brow ridge is about this wide
SHINE_BASE = 0.2  # x inter-ocular: the slow skin light a highlight stands out from (the light match's width)
SHINE_MARGIN = 1.0  # L levels of B's shine over the target's left alone: noise, not a highlight
# the fields are read at 1/4 of the crop side (64 px of a 256 crop; at 1/2: 0.07 levels apart, 1.6x the time)
WORK_SCALE = 4
# growth (x inter-ocular) of each of ``bank_warp.FEATURE_PARTS`` cut out of the skin a shine is read
# on: the brows hardly grown (the skin between them is where the bundled man shines), the eyes with
# their lashes, the lips
FEATURE_GROWTH = (0.02, 0.02, 0.06, 0.06, 0.05)


def shine_skin(hull: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``hull`` (float32, 0..1) with the brows, eyes and lips of the face at ``points`` (in ``hull``'s
    pixels) cut out (``FEATURE_GROWTH``)."""
    return without_features(hull, points, FEATURE_GROWTH)


def _field(lightness: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """``lightness`` blurred by ``sigma`` as a normalised convolution with ``weights`` (one blur of both)."""
    both = np.dstack([lightness * weights, weights])
    if sigma > 4.0:  # a wide blur at half the side: the field is smooth, and the blur four times cheaper
        side = both.shape[1::-1]
        half = cv2.resize(both, (side[0] // 2, side[1] // 2), interpolation=cv2.INTER_AREA)
        both = cv2.resize(cv2.GaussianBlur(half, (0, 0), sigma / 2), side, interpolation=cv2.INTER_LINEAR)
    else:
        both = cv2.GaussianBlur(both, (0, 0), sigma)
    return both[..., 0] / np.maximum(both[..., 1], 1e-3)


def shine(lightness: np.ndarray, weights: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """(float32: how much lighter the skin is at highlight size (``SHINE_DETAIL``) than its slow light
    (``SHINE_BASE``), 0 where it is darker; the lightness at highlight size); ``iod`` in the pixels of
    ``lightness``."""
    detail = _field(lightness, weights, max(0.5, SHINE_DETAIL * iod))
    return np.maximum(detail - _field(lightness, weights, max(1.0, SHINE_BASE * iod)), 0.0), detail


def _lightness(image: np.ndarray, side: int) -> np.ndarray:
    small = cv2.resize(np.ascontiguousarray(image[..., :3]), (side, side), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)


def shine_factor(painted: np.ndarray, target: np.ndarray, hull: np.ndarray, points: np.ndarray,
                 shaped: np.ndarray, reach: float = 0.0) -> np.ndarray:
    """Float32 at 1/``WORK_SCALE`` of the crop side, 0..1: what ``painted``'s BGR is multiplied by to take
    off the L levels by which B's shine (``painted``, its features on ``shaped``) exceeds the target's
    (``target``, on ``points``) inside ``hull``, less ``SHINE_MARGIN``; 1 where it does not.
    ``reach`` (x inter-ocular): B's shine is held to the target's brightest within this distance, not
    at the same place only; negative, to its least within that distance (B's shine taken down further,
    to what the target shows all round); 0 = the same place.

    A factor on the 8-bit BGR keeps the hue and scales the colour with the light, as a shade does;
    L* grows about as the 0.73th power of 8-bit sRGB in skin's range (the sRGB curve's 2.2 under
    L*'s cube root), so the factor is the lightness ratio to the 1/0.73th power."""
    size = painted.shape[0]
    side = max(8, size // WORK_SCALE)
    factor = side / size
    small_hull = cv2.resize(np.asarray(hull, np.float32), (side, side), interpolation=cv2.INTER_AREA)
    points, shaped = np.asarray(points, np.float64) * factor, np.asarray(shaped, np.float64) * factor
    iod = inter_ocular(points)
    bank_skin = shine_skin(small_hull, shaped)
    bank, lightness = shine(_lightness(painted, side), bank_skin, iod)
    own, _ = shine(_lightness(target, side), bank_skin if shaped is points else shine_skin(small_hull, points), iod)
    if reach != 0.0:
        radius = max(1, int(round(abs(reach) * iod)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
        own = cv2.dilate(own, disc) if reach > 0 else cv2.erode(own, disc)
    # only on B's skin: its white eyes and teeth are no shine
    where = cv2.GaussianBlur(bank_skin, (0, 0), max(0.5, SHINE_DETAIL * iod))
    excess = np.maximum(bank - own - SHINE_MARGIN, 0.0) * where
    ratio = np.clip(1.0 - excess / np.maximum(lightness, 1.0), 0.0, 1.0)
    return ratio ** np.float32(1.0 / 0.73)


def without_excess(painted: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``painted`` (BGR uint8) multiplied by ``factor`` (``shine_factor``, any size), only in the box
    where it is under 1."""
    below = factor < 0.999
    if not below.any():
        return painted
    scale = painted.shape[0] / factor.shape[0]
    rows, cols = np.nonzero(below)
    y0, x0 = max(int(rows.min() * scale) - 2, 0), max(int(cols.min() * scale) - 2, 0)
    y1, x1 = int((rows.max() + 1) * scale) + 2, int((cols.max() + 1) * scale) + 2
    full = cv2.resize(factor, painted.shape[:2][::-1], interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    out = painted.copy()
    box = np.ascontiguousarray(painted[y0:y1, x0:x1, :3]).astype(np.float32)
    out[y0:y1, x0:x1, :3] = cv2.convertScaleAbs(cv2.multiply(box, cv2.merge([full, full, full])))
    return out
