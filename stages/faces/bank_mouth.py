"""What of the target's own open mouth shows between B's lips: the opening, its teeth and its dark.

Why the target's own: the bank rarely holds the target's mouth shape. Its grin warped onto a spoken
"o" squeezes the teeth into a smeared band, and its closed lips stretched over an open mouth paint lip
skin in the gap; viewers named both (a "melted mouth", "garbled teeth"). The opening itself (teeth,
tongue, the dark of the mouth) is the target's, in its light; lips, skin and everything around stay B's.

Why not only between dlib's inner lip points: on lipstick and on bright teeth dlib's inner lip line
runs across the teeth, not along the lips. On ``retalking_face5`` it read a mouth open on two rows of
teeth as shut (an inner-lip gap of 0.01-0.05 inter-ocular), so B's closed lips were painted over
every word she spoke; on ``retalking_face2`` it ran along the upper teeth's lower edge and B's upper
lip was painted down over them. So the opening is also read from the pixels inside the outer lip
line: teeth (lighter and greyer than the lips) and the mouth's dark (darker than the lips), joined to
dlib's inner opening, however thin that is.
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.geometry import inter_ocular, polygon_mask

MOUTH_OPEN = 0.04  # inner-lip gap (inter-ocular units) from which the target's own mouth shows between the lips
TEETH_LIGHTER = 0.12  # lightness over the lips' median, as a share of it, at which a pixel is wholly tooth-light
TEETH_GREYER = 8.0  # chroma below the lips' median over which a pixel turns from lip-red to tooth-grey
MOUTH_DARKER = 0.35  # lightness under the lips' median, as a share of it, at which a pixel is wholly the mouth's dark
DARK_WIDTH = 0.04  # x inter-ocular: the mouth's dark narrower than this is the crease between closed lips
LIP_EDGE = 0.04  # x inter-ocular: the outer lip line's inset, so the skin just outside a lip is never the opening
GREY_LIPS = 4.0  # lips' median chroma under which the picture has no colour to tell teeth by (greyscale, infrared)
WIDER_THAN_BANK = (0.08, 0.18)  # inter-ocular: how much wider the target's lips part than the painted's, where its own lips start to show, and where they wholly do
SEEN_OPEN = (0.005, 0.015)  # area of the opening read from pixels (inter-ocular squared) over which it fades in


def _disc(radius: int) -> np.ndarray:
    """An elliptic structuring element of this radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)


def seen_opening(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Float32 (size, size) 0 or 1: the open mouth of ``image``'s face (landmarks ``points``) read from
    its pixels, outside dlib's inner lip line as well as inside it.

    Inside the outer lip line (inset by ``LIP_EDGE``), a pixel scores as teeth by how much lighter
    (``TEETH_LIGHTER``, relative) and greyer (``TEETH_GREYER``) it is than the lip ring's median, or
    as the mouth's dark by how much darker (``MOUTH_DARKER``); on lips with no colour (``GREY_LIPS``)
    by lightness alone. Of the pixels scoring over a half, only
    those joined to the inner opening count, and the dark ones only where wider than ``DARK_WIDTH``:
    a pale spot on a lip, the skin past a thin lip's outline or the crease between closed lips is no
    opening. Only the lips' bounding box is read (a few milliseconds a face otherwise)."""
    size = image.shape[0]
    opening = np.zeros((size, size), np.float32)
    iod = inter_ocular(points)
    x0, y0 = np.maximum(np.floor(points[48:68].min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(points[48:68].max(axis=0)).astype(int) + 3, size)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return opening
    local = points - [x0, y0]
    shape = (y1 - y0, x1 - x0)
    outer = cv2.erode(polygon_mask(local[48:60], shape), _disc(max(1, int(round(LIP_EDGE * iod)))))
    inner = polygon_mask(local[60:68], shape)
    ring = (outer > 0) & (inner == 0)
    if ring.sum() < 8:
        return opening
    lab = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1, :3]), cv2.COLOR_BGR2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    # relative to the lips' own lightness: in dim footage teeth are only a little lighter than lips
    relative = lab[..., 0] / max(float(np.median(lab[..., 0][ring])), 1.0) - 1.0
    lips_chroma = float(np.median(chroma[ring]))
    # in a picture without colour (greyscale footage, an infrared camera) lightness alone tells teeth
    # and the mouth's dark from the lips: the greyness test would call every pixel half lip
    greyer = (np.ones_like(chroma) if lips_chroma < GREY_LIPS
              else np.clip((lips_chroma - chroma) / TEETH_GREYER + 0.5, 0.0, 1.0))
    teeth = np.clip(relative / TEETH_LIGHTER, 0.0, 1.0) * greyer
    # the mouth's dark is greyer than the lips too: a lipstick's darker inner edge is lip
    dark = np.clip(-relative / MOUTH_DARKER, 0.0, 1.0) * greyer
    wide = _disc(max(1, int(round(DARK_WIDTH * iod / 2))))
    dark_wide = cv2.morphologyEx((dark > 0.5).astype(np.uint8), cv2.MORPH_OPEN, wide) > 0
    score = np.maximum(teeth, dark * dark_wide) * (outer > 0)
    candidates = ((score > 0.5) | (inner > 0)).astype(np.uint8) & outer
    _, labels = cv2.connectedComponents(candidates, connectivity=8)
    joined = np.unique(labels[(inner > 0) & (outer > 0)])
    joined = joined[joined > 0]
    if joined.size == 0:
        return opening
    opening[y0:y1, x0:x1][np.isin(labels, joined) & (score > 0.5)] = 1.0
    return opening


def _parted(points: np.ndarray) -> float:
    """0..1: how far dlib's inner lips are apart past ``MOUTH_OPEN``."""
    return float(np.clip((inner_gap(points) - MOUTH_OPEN) / MOUTH_OPEN, 0.0, 1.0))


def inner_gap(points: np.ndarray) -> float:
    """How far apart dlib's inner lips are (points 62 and 66), in inter-ocular distances."""
    return float(np.linalg.norm(points[66] - points[62])) / max(inter_ocular(points), 1e-6)


def opened_past_bank(target_gap: float, painted_gap: float) -> float:
    """0..1: how much of the target's own lips to keep, by how much wider its mouth is open than the
    painted bank face's (``inner_gap`` of each; ``WIDER_THAN_BANK``).

    Why: a bank holds the mouths its person made. The bundled man talks and grins, his lips never more
    than 0.17 inter-ocular distances apart; ``lp_d18`` opens to 0.45 in a shout or a yawn. His lips
    stretched round that opening left his teeth and inner lip as a ragged rim inside it, his grin's
    creases as dark smudges at its corners and his lower lip's shadow as a second lip below (blind
    judges' "ghosted lower lip", "dark smeared rim", "dark smudge by the mouth corner"). Lips say less
    of who someone is than eyes, nose and brows, which stay B's; a wide-open mouth is the target's."""
    low, high = WIDER_THAN_BANK
    return float(np.clip((target_gap - painted_gap - low) / (high - low), 0.0, 1.0))


def _seen_share(seen: np.ndarray, points: np.ndarray) -> float:
    """0..1: how much of ``seen_opening`` shows, by its area over ``SEEN_OPEN``."""
    iod = max(inter_ocular(points), 1e-6)
    low, high = SEEN_OPEN
    return float(np.clip((float(seen.sum()) / (iod * iod) - low) / (high - low), 0.0, 1.0))


def may_be_open(points: np.ndarray, image: np.ndarray, seen: np.ndarray | None = None) -> bool:
    """Whether ``mouth_interior`` can show anything of this face (``image`` with landmarks ``points``;
    ``seen``: its ``seen_opening``, when the caller has it): a cheap test on the face as it is, so the
    target is warped onto B's proportions only for an open mouth."""
    if _parted(points) > 0.0:
        return True
    return _seen_share(seen_opening(image, points) if seen is None else seen, points) > 0.0


def mouth_interior(points: np.ndarray, size: int, image: np.ndarray | None = None) -> np.ndarray | None:
    """(size, size) float32 weight of the target's own pixels in its open mouth: between its inner
    lips (points 60-67), fading in as they part past ``MOUTH_OPEN``, and what ``seen_opening`` reads
    in ``image`` (the target on ``points``), fading in over ``SEEN_OPEN``; None when both say shut.

    The polygon's edge lies a pixel inside the inner lip line and is barely feathered: a wider inset
    left the bank's squeezed teeth showing in the corners, a wider feather the target's own lip line."""
    iod = max(inter_ocular(points), 1e-6)
    parted = _parted(points)
    mask = np.zeros((size, size), np.float32)
    if parted > 0.0:
        cv2.fillPoly(mask, [np.round(points[60:68] * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8)) * np.float32(parted)  # a pixel inside the inner lip line
    if image is not None:
        seen = seen_opening(image, points)
        mask = np.maximum(mask, seen * np.float32(_seen_share(seen, points)))
    if not mask.any():
        return None
    return cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.01 * iod))


LIP_LIKE = (8.0, 16.0)  # Lab distance from the target's lip median: wholly lip below, not lip above


def _lip_likeness(image: np.ndarray, points: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Float32 (size, size) 0..1 over the box round ``where`` (0 elsewhere): how near each pixel of
    ``image`` is to the colour of its own lips (the median of the ring between the outer and inner lip
    lines of ``points``), by ``LIP_LIKE``."""
    size = image.shape[0]
    likeness = np.zeros((size, size), np.float32)
    ring = (polygon_mask(points[48:60], (size, size)) > 0) & (polygon_mask(points[60:68], (size, size)) == 0)
    rows, cols = np.nonzero(ring | (where > 0))
    if ring.sum() < 8:
        return likeness
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    lab = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1, :3]), cv2.COLOR_BGR2LAB).astype(np.float32)
    distance = np.linalg.norm(lab - np.median(lab[ring[y0:y1, x0:x1]], axis=0), axis=-1)
    low, high = LIP_LIKE
    likeness[y0:y1, x0:x1] = np.clip((high - distance) / (high - low), 0.0, 1.0)
    return likeness


def stray_teeth(painted: np.ndarray, points: np.ndarray, inside: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(size, size) float32 weight of the bank face's own opening (its teeth and dark, ``seen_opening``
    of ``painted`` on ``points``) that lies outside the target's (``inside``, ``mouth_interior``) and
    over something of the target's (``target``, on ``points``) that is not its lips: where B's
    squeezed grin shows past the target's opening, the target's own mouth goes there too.

    Why: on a wide-open "o" the target's palate and tongue are about as light as its lips, so its
    opening is read a little small, and the bank's grin, the nearest it holds, showed its teeth as
    fangs in the ring between (``lp_d18``). Where the target's lips lie under B's teeth (B's mouth
    wider open at a corner), B's teeth stay: the target's lipstick there was a red patch on B's lip
    (``retalking_face5``)."""
    iod = inter_ocular(points)
    stray = seen_opening(painted, points) * (1.0 - np.clip(inside, 0.0, 1.0))
    if not stray.any():
        return stray
    stray = stray * (1.0 - _lip_likeness(target, points, stray))
    stray = cv2.dilate(stray, _disc(max(1, int(round(0.02 * iod)))))
    return cv2.GaussianBlur(stray, (0, 0), max(0.5, 0.01 * iod))


def shown_opening(image: np.ndarray, points: np.ndarray, seen: np.ndarray | None = None) -> float:
    """How much open mouth a face shows (its teeth and dark), in inter-ocular distances squared: what
    ``seen_opening`` reads in ``image`` (landmarks ``points``; ``seen``: that reading, when the caller
    has it), with the inner lips' polygon where dlib parts them past ``MOUTH_OPEN``. The measure
    ``BankMatcher`` compares a bank face's mouth with a target's by (``bank_match.TEETH``)."""
    size = image.shape[0]
    iod = max(inter_ocular(points), 1e-6)
    shown = (seen_opening(image, points) if seen is None else seen) > 0.5
    if _parted(points) > 0.0:
        shown |= polygon_mask(np.asarray(points, np.float64)[60:68], (size, size)) > 0
    return float(shown.sum()) / (iod * iod)
