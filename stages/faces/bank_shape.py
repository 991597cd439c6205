"""B's face shape on the target's expression: where the painted brows, eyes, nose and mouth go.

Why: the warp puts B's features on the target's own landmarks, so the painted face kept the
target's proportions (eye spacing, eye width, nose length, the mouth's width and height under the
nose) and only B's skin and features' look. People, and dlib's embedding, read who someone is from
those proportions as much as from texture: on ``retalking_face2`` about half the faces painted with
the bundled man still read nearer the target than him (``docs/benchmarks.md#quality-default``).

How: the two people's rest shapes (``bank_match.rest_shape``, normalised on eyes and nose) differ
by each one's proportions, not by expression, so their difference moves the target's landmarks
towards B's proportions while the target's expression stays:

* nose: every point (a nose hardly changes with expression);
* eyes: the corners; the lids follow the corners, so the eye keeps the target's opening (a blink
  stays a blink);
* mouth: the corners, every lip point following them (the opening and the lips' own movement stay
  the target's);
* brows: every point.

The jaw is not moved: it is the painted mask's edge, and the target's head outline stays the
target's, as in every face swap. Nose and eye corners hardly move with expression, so a track's own
rest shape gives them from its first face; brows and mouth do move (a raised brow, a smile), so
their shift grows with the trust in the track's rest shape (``bank_match._TrackState.trust``, full
after a second), or a first frame's smile would be taken for the person's mouth.

A rest shape of a head turned through most of its footage differs from B's frontal one by the turn
too: the nose tip and every feature sit off to one side. Across the face only the mirror-symmetric
part of the difference is used (features wider or narrower apart), which a turn leaves nearly alone;
up and down (nose length, the mouth's height) is used whole. The shift still fades out as the two
rest shapes' yaw differs (``YAW_FADE``: a profile's rest shape says little of its proportions), and no
point moves further than ``MOST`` (a misfitted face).
"""

from __future__ import annotations

import numpy as np

from stages.faces.bank_match import head_pose

NOSE = np.r_[27:36]
BROWS = np.r_[17:27]
EYES = ((36, 39, np.r_[36:42]), (42, 45, np.r_[42:48]))  # (first corner, second corner, outline)
MOUTH = (48, 54, np.r_[48:68])
# each landmark's mirror image across the face's middle (iBUG 68 order); the middle's own points map to themselves
MIRROR = np.array([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
                   26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31,
                   45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
                   54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])
MOST = 0.12  # largest shift of a point, inter-ocular units: beyond it a rest shape is more likely a misfit than a face
YAW_FADE = 0.3  # yaw proxy difference between the rest shapes at which no shift is made (about 45 degrees)


def _along(points: np.ndarray, first: int, second: int, part: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shifts of ``part``'s points interpolated between those of its two corners by where each point
    lies along the corner-to-corner axis (a point beyond a corner takes that corner's shift)."""
    axis = points[second] - points[first]
    t = np.clip((points[part] - points[first]) @ axis / max(float(axis @ axis), 1e-9), 0.0, 1.0)[:, None]
    return (1.0 - t) * shift[first] + t * shift[second]


def shape_shift(rest: np.ndarray, bank_rest: np.ndarray, trust: float) -> np.ndarray:
    """(68, 2) per-landmark shift, in normalised units (``bank_match.normalise``), that gives a target
    face with rest shape ``rest`` the proportions of a bank person with rest shape ``bank_rest``;
    ``trust`` (0..1) scales the brows' and the mouth's part. The jaw's shift is 0."""
    rest, bank_rest = np.asarray(rest, np.float64), np.asarray(bank_rest, np.float64)
    difference = bank_rest - rest
    # across the face only the mirror-symmetric part (a wider or narrower eye, nose, mouth): the part
    # that moves both sides the same way is what a turned head does to a rest shape
    difference[:, 0] = (difference[:, 0] - difference[MIRROR, 0]) / 2
    turned = abs(float(head_pose(rest)[0, 0] - head_pose(bank_rest)[0, 0]))
    if turned >= YAW_FADE:
        return np.zeros((68, 2))
    shift = np.zeros((68, 2))
    shift[NOSE] = difference[NOSE]
    for first, second, part in EYES:
        shift[part] = _along(rest, first, second, part, difference)
    first, second, part = MOUTH
    shift[part] = trust * _along(rest, first, second, part, difference)
    shift[BROWS] = trust * difference[BROWS]
    length = np.linalg.norm(shift, axis=1, keepdims=True)
    shift *= np.minimum(1.0, MOST / np.maximum(length, 1e-9))
    return shift * (1.0 - turned / YAW_FADE)


def in_pixels(shift: np.ndarray, factor: complex) -> np.ndarray:
    """A normalised ``shift`` as a shift in the pixels of the face ``normalise`` mapped by ``factor``
    (``bank_match.normalising_factor``): its rotation and scale undone."""
    z = (shift[:, 0] + 1j * shift[:, 1]) / factor
    return np.stack([z.real, z.imag], axis=1)
