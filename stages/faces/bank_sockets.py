"""The light in the eye sockets: B's lids and eyes as shaded as the target's.

Why: the light match (``bank_warp.shading_correction``) reads the target's slow light on its skin
without the features, whose outlines are grown by a tenth of the inter-ocular distance, and it is
wider than a socket (0.3 inter-ocular distances). So it took a socket in shadow (light from above, a
deep brow) for the lit brow and cheek around it, and B's lids kept their own front light: a chalky,
pale lid under a dark brow, on ``lp_d18`` and ``retalking_face2`` (``eye_tone``, the eyes against the
skin, 5.1 and 8.4 where the x264 control gives under 1).

How: the sockets' own skin (the lids, under the brow and under the eye, on both faces:
``socket_skin``) joins the skin the field is read on, and inside the sockets (``socket_window``, at
B's eyes' places) a field ``SOCKET_SHADING`` wide brings B's lightness down to the target's.

Lightness only, and only down. A socket field that also made B lighter, or moved its colour, carried
the target's own lids and make-up onto B: ``lp_d19`` painted onto ``lp_d20`` read 0.52 from B and 0.63
from the target, against 0.49 and 0.66 without it. Darkening alone read 0.49 and 0.67: a socket in
shade is the scene's light, a pale one is the target's own look.
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_eyes import BROWS, EYES, eye_axis, eye_down, feathered_hull, filled_hull

SOCKET_SHADING = 0.1  # x inter-ocular: the light field's width inside the sockets (a socket is about 0.3 across)
SOCKET_REACH = (0.7, 0.45)  # x the eye's width: a socket reaches this far above and below the eye's corners
LASH_MARGIN = 0.12  # x the eye's width: the eye's outline grown by this much holds lashes and liner, not skin
BROW_MARGIN = 0.08  # x the eye's width: the brow's outline grown by this much


def _socket_outline(contour: np.ndarray) -> tuple[np.ndarray, float] | None:
    """An eye socket's outline (``SOCKET_REACH`` above and below the eye, along its own axis, so a
    rolled head is served) and the eye's width; None for an eye too small to have one."""
    along, width = eye_axis(contour)
    if width < 0.5:
        return None
    down = eye_down(contour, along, width)
    above, below = SOCKET_REACH
    return np.concatenate([contour - down * above * width, contour + down * below * width]), width


def socket_skin(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32, 0 or 1: the skin of both eye sockets, without the eyes with their lashes
    and liner (``LASH_MARGIN``) and without the brows (``BROW_MARGIN``)."""
    points = np.asarray(points, np.float64)
    skin = np.zeros((size, size), np.uint8)
    for eye in range(2):
        contour = points[EYES[eye]]
        socket = _socket_outline(contour)
        if socket is None:
            continue
        outline, width = socket
        holes = (filled_hull((size, size), contour, max(1, int(round(LASH_MARGIN * width))))
                 | filled_hull((size, size), points[BROWS[eye]], max(1, int(round(BROW_MARGIN * width)))))
        skin |= filled_hull((size, size), outline) & (1 - holes)
    return skin.astype(np.float32)


def socket_window(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: both eye sockets with the eyes in them, feathered (``bank_eyes.FEATHER``)."""
    points = np.asarray(points, np.float64)
    mask = np.zeros((size, size), np.float32)
    for eye in range(2):
        socket = _socket_outline(points[EYES[eye]])
        if socket is not None:
            np.maximum(mask, feathered_hull(*socket, size), out=mask)
    return mask


def shaded_sockets(correction: np.ndarray, near: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """The light match's ``correction`` (Lab, at the field's size) with its lightness taken down to
    ``near``'s (the field ``SOCKET_SHADING`` wide, read on ``socket_skin`` too) inside the sockets of
    the eyes at ``points`` (crop pixels of a ``size`` crop), where ``near`` is darker."""
    small = correction.shape[0]
    window = socket_window(np.asarray(points, np.float64) * (small / size), small)
    out = correction.copy()
    out[..., 0] += window * np.minimum(near[..., 0] - correction[..., 0], 0.0)
    return out
