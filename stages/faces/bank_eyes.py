"""Where a target's own shut eye is kept under the bank face: the eyes the bank cannot close.

Why: a bank that never shows a shut eye (the bundled man's clips hold none) paints its most closed
eye on a blink or on a face that cries or laughs with its eyes shut, and the warp squeezes that open
eye into a slit: a dark line of iris between lids that should meet, staring through a closed eye.
Viewers read it as a mask (on the sample, whose eyes are shut for much of the clip, eye r was -0.65).
A shut eye is lid skin and a lash line, which say little of who someone is, so where the target's
eye is shut and the painted one is clearly more open, the target's own lids show (warped onto B's
proportions with the rest of the target's pixels, and only in the lids' window); an open eye, and a
squint the bank can match, stay B's.
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.geometry import polygon_mask

EYES = (slice(36, 42), slice(42, 48))  # the 68-point eye contours, the face's right then left eye
SHUT = (0.55, 0.3)  # a target eye's opening (share of its rest opening) where keeping its lids starts, and where it is whole
MORE_OPEN = (0.0, 0.15)  # how much more open the painted eye is (same share) where keeping starts, and where it is whole
LID_REACH = (0.45, 0.25)  # the window reaches this far above and below the eye's corners, x the eye's width
FEATHER = 0.15  # x the eye's width: the window's soft edge


LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))  # upper and lower lid points facing each other


def lid_gaps(points: np.ndarray) -> np.ndarray:
    """(2,) each eye's mean gap between its facing lid points (``LID_PAIRS``), in ``points``' units."""
    gaps = [float(np.linalg.norm(points[upper] - points[lower])) for upper, lower in LID_PAIRS]
    return np.array([(gaps[0] + gaps[1]) / 2, (gaps[2] + gaps[3]) / 2])


def opened_to(points: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """``points`` with each eye's lids moved apart (or together) about their midline by ``ratios`` (2,)."""
    moved = np.array(points, copy=True)
    for pair, (upper, lower) in enumerate(LID_PAIRS):
        middle = (points[upper] + points[lower]) / 2
        ratio = ratios[pair // 2]
        moved[upper] = middle + (points[upper] - middle) * ratio
        moved[lower] = middle + (points[lower] - middle) * ratio
    return moved


def _ramp(value: float, start: float, end: float) -> float:
    """0 at ``start``, 1 at ``end`` (either way round), smooth in between."""
    t = float(np.clip((value - start) / (end - start), 0.0, 1.0))
    return t * t * (3.0 - 2.0 * t)


def keep_weights(target_openness: np.ndarray, painted_openness: np.ndarray) -> np.ndarray:
    """(2,) how much of each of the target's eyes to keep: 1 where it is shut (``SHUT``) and the painted
    eye is clearly more open (``MORE_OPEN``), 0 where either eye is open enough to be matched."""
    weights = [_ramp(float(target), *SHUT) * _ramp(float(painted - target), *MORE_OPEN)
               for target, painted in zip(target_openness, painted_openness)]
    return np.asarray(weights, np.float32)


def eye_axis(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """An eye's corner-to-corner vector and its length (the eye's width), from its 6 contour points."""
    along = contour[3] - contour[0]
    return along, float(np.hypot(*along))


def eye_down(contour: np.ndarray, along: np.ndarray, width: float) -> np.ndarray:
    """The unit vector across an eye (``eye_axis``'s ``along`` and ``width``) from its upper lid towards
    its lower one: the eye's own "down", so a rolled head is served."""
    down = np.array([-along[1], along[0]]) / width  # image y grows downwards
    return -down if np.dot(down, contour[4:6].mean(axis=0) - contour[1:3].mean(axis=0)) < 0 else down


def filled_hull(shape: tuple[int, int], outline: np.ndarray, grow: int = 0) -> np.ndarray:
    """uint8 0/1 of ``shape``: the convex hull of ``outline`` (pixels of that array), dilated by ``grow``
    pixels (a disc)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(outline * 4).astype(np.int32)), 1, cv2.LINE_8, shift=2)
    if grow > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    return mask


def feathered_hull(outline: np.ndarray, width: float, size: int) -> np.ndarray:
    """(size, size) float32: the convex hull of ``outline``, feathered by ``FEATHER`` x the eye's ``width``."""
    hull = cv2.convexHull(np.round(outline * 4).astype(np.int32))
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0, cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(mask, (0, 0), max(0.5, FEATHER * width))


def lid_window(points: np.ndarray, size: int, eye: int) -> np.ndarray:
    """(size, size) float32: one eye with its lids and lashes (``LID_REACH`` above and below the corners,
    along the eye's own axis, so a rolled head is served), feathered; the brow stays out."""
    contour = np.asarray(points[EYES[eye]], np.float64)
    along, width = eye_axis(contour)
    if width < 2.0:
        return np.zeros((size, size), np.float32)
    down = eye_down(contour, along, width)
    above, below = LID_REACH
    outline = np.concatenate([contour - down * above * width, contour + down * below * width,
                              [contour[0] - along * 0.1, contour[3] + along * 0.1]])
    return feathered_hull(outline, width, size)


WHITES_SKIN = (0.12, 0.35)  # x the eye's width: the band under the lower lid whose skin an eye's white is told from
WHITES_LIGHTER = 0.85  # a white is at least this share of that skin's lightness (it may lie in the lids' shade)
WHITES_GREYER = 0.6  # and has at most this share of its chroma
COVERED = 0.25  # an eye showing less white than this share of its bank's usual (``covered_eyes``) has its iris covered
LEAST_WHITES = 0.05  # a bank whose typical eye shows less white than this share of its outline is not read


def eye_whites(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(2,) the share of each eye's 6-point outline that is the white of the eye: pixels lighter than
    ``WHITES_LIGHTER`` of the skin under the lower lid (``WHITES_SKIN``) and greyer than
    ``WHITES_GREYER`` of its chroma. Only the eyes' bounding box is read.

    Why not the lids' landmarks alone: on a blink the bundled woman's heavy lashes come down first,
    and dlib follows the lashes, so a half-closed eye whose lids cover the iris read as open as a
    smile's narrowed one (0.6-0.75 of her rest opening against 0.7-0.85). The whites tell them
    apart: a covered eye shows none."""
    near, far = WHITES_SKIN
    outlines = []  # per eye: its outline and the skin band under it, or None for an eye too small to read
    for eye in EYES:
        contour = np.asarray(points[eye], np.float64)
        along, width = eye_axis(contour)
        if width < 2.0:
            outlines.append(None)
            continue
        lower, down = contour[[0, 5, 4, 3]], eye_down(contour, along, width)
        outlines.append((contour, np.concatenate([lower + down * near * width, (lower + down * far * width)[::-1]])))
    drawn = np.concatenate([np.concatenate(pair) for pair in outlines if pair is not None] or [np.zeros((1, 2))])
    x0, y0 = np.maximum(np.floor(drawn.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.ceil(drawn.max(axis=0)).astype(int) + 2
    local = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    if local.shape[0] < 4 or local.shape[1] < 4:
        return np.zeros(2, np.float32)
    lab = cv2.cvtColor(local, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    shares = []
    for pair in outlines:
        inside, skin = (None, None) if pair is None else (polygon_mask(outline - [x0, y0], lab.shape) > 0 for outline in pair)
        if inside is None or inside.sum() < 4 or skin.sum() < 4:
            shares.append(0.0)
            continue
        white = ((lightness[inside] > WHITES_LIGHTER * np.median(lightness[skin]))
                 & (chroma[inside] < WHITES_GREYER * np.median(chroma[skin])))
        shares.append(float(white.mean()))
    return np.asarray(shares, np.float32)


def covered_eyes(whites: np.ndarray) -> np.ndarray:
    """(N, 2) bool: which of a bank's eyes (``eye_whites`` of its N faces) have their iris covered,
    showing under ``COVERED`` of the white that eye shows when open (its 90th percentile in the bank:
    a person's eyes are open most of the time). Read only where the bank's typical eyes (the median
    of both) show at least ``LEAST_WHITES``: in dim, soft or compressed footage a white is no lighter
    than the lid under it, and every eye would read as covered.

    Only a bank's eyes are read, not the target's: on the targets' footage the measure was no guide
    (``lp_d3``'s open eyes read no white on most frames, under a bright studio light), while both
    bundled banks read as an eye at a glance does (her blinks and laughing eyes, his five blinks)."""
    whites = np.asarray(whites, np.float32).reshape(-1, 2)
    if not len(whites) or np.median(whites, axis=0).min() < LEAST_WHITES:
        return np.zeros(whites.shape, bool)
    return whites < COVERED * np.percentile(whites, 90, axis=0)


BROWS = (slice(17, 22), slice(22, 27))  # the brow over each of ``EYES``, in the same order
BROW_REACH = 0.15  # x the eye's width: how far above its brow the brow-and-eye window reaches


def brow_and_eye_window(points: np.ndarray, size: int, eye: int) -> np.ndarray:
    """(size, size) float32: one eye with its lids and lashes and the brow above it, feathered (the
    window of ``lid_window`` grown up over the brow, along the eye's own axis)."""
    contour = np.asarray(points[EYES[eye]], np.float64)
    brow = np.asarray(points[BROWS[eye]], np.float64)
    along, width = eye_axis(contour)
    if width < 2.0:
        return np.zeros((size, size), np.float32)
    up = np.array([along[1], -along[0]]) / width
    if np.dot(up, brow.mean(axis=0) - contour.mean(axis=0)) < 0:
        up = -up
    outline = np.concatenate([contour - up * LID_REACH[1] * width, brow + up * BROW_REACH * width,
                              [contour[0] - along * 0.1, contour[3] + along * 0.1]])
    return feathered_hull(outline, width, size)


def own_brows_and_eyes(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 weight of the target's own brows and eyes, both sides (``brow_and_eye_window``).

    For a face painted with a bundled person of the other sex (its own person is the only bundled one
    of its sex: ``bank_choice``): the bundled woman's mascara and groomed brows on a man were what
    viewers named first, with confidence. Brows, lashes and make-up say "man" or "woman" before they
    say who; B's nose, mouth, skin and proportions still paint the face."""
    mask = brow_and_eye_window(points, size, 0)
    return np.maximum(mask, brow_and_eye_window(points, size, 1))


def kept_eyes(points: np.ndarray, size: int, weights: np.ndarray) -> np.ndarray | None:
    """(size, size) float32 weight of the target's own pixels over both eyes (``keep_weights`` x
    ``lid_window``); None when neither eye is kept."""
    if not np.any(weights > 0.0):
        return None
    mask = np.zeros((size, size), np.float32)
    for eye, weight in enumerate(weights):
        if weight > 0.0:
            np.maximum(mask, lid_window(points, size, eye) * np.float32(weight), out=mask)
    return mask
