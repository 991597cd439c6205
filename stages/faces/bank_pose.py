"""A head turned further than any of the bank's faces keeps its own nose.

Why: the swap warps B's face onto the target's landmarks, one affine map per triangle. That moves
every landmark to the right place but cannot turn a face. A frontal bank face on a turned head
brings B's frontal nose: both nostrils, both flanks, and the far flank's shadow pressed into a dark
line along the nose's silhouette. Seen on a turned photo (``45-m7-di-ph.jpg``) and on the
laughing, turning man of ``hellomeme_drive_jue``, it read as a smeared, pasted-on nose. The bundled
man's footage is all frontal (yaw at most 0.03 jaw widths by ``bank_match.head_pose``; the photo's
is -0.43), so every turned man is painted this way.

The nose says little of who someone is and a great deal of which way the head points, so with
``swap.bank_turned_nose``, where the head is turned past the bank face, the target's own nose
stays: its silhouette, shading and highlight. B's eyes, brows, mouth and skin paint the rest. The
two meet at the nose's sides, where B's skin has been matched to the target's colour and light.

It is off by default. In two blind paired rounds on turned heads (``docs/benchmarks.md``,
``prefer-turned-nose-1`` and ``-2``) the judges split on the men and preferred B's nose on a
soft-lit, smiling woman turned away (``liveportrait_source_s32``) in every pair: her own soft nose
read as "washed out, no readable nostrils" beside B's crisper painted features.
"""

from __future__ import annotations

import numpy as np

from stages.faces.bank_match import head_pose
from stages.faces.bank_eyes import EYES, filled_hull
from stages.faces.geometry import inter_ocular

TURN_START = 0.125  # yaw difference (``bank_match.head_pose``: jaw widths) at which the target's own nose starts to show
TURN_FULL = 0.225  # and at which it is all the target's
NOSE_POINTS = list(range(27, 36))  # the nose from its bridge between the eyes to its tip and base
NOSE_FEATHER = 0.04  # x inter-ocular: how far the kept nose reaches past its points, softly


def turned_past(target_points: np.ndarray, bank_points: np.ndarray) -> float:
    """0..1: how much of the target's own nose stays, from how much further the target's head is
    turned than the bank face's (the yaw of ``bank_match.head_pose``: the nose tip's offset from the
    jaw's middle over the jaw's width, 0 frontal; ``TURN_START`` to ``TURN_FULL``, smoothstepped)."""
    yaws = head_pose(np.stack([target_points, bank_points]))[:, 0]
    ramp = min(max((abs(float(yaws[0] - yaws[1])) - TURN_START) / (TURN_FULL - TURN_START), 0.0), 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def nose_area(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 weight of the nose: the hull of its points (``NOSE_POINTS``; on a turned
    head the tip is the silhouette), grown by ``NOSE_FEATHER`` and feathered within it, so the
    silhouette and what lies just past it are the target's own too; the eyes, grown as much, are
    cut out (the target's eye corner beside B's eye read as a pale spot)."""
    import cv2

    points = np.asarray(points, np.float64)
    reach = max(1, int(round(NOSE_FEATHER * inter_ocular(points))))
    nose = filled_hull((size, size), points[NOSE_POINTS], reach)
    eyes = np.maximum(*(filled_hull((size, size), points[eye], reach) for eye in EYES))
    return cv2.GaussianBlur((nose * (1 - eyes)).astype(np.float32), (0, 0), reach / 2.0)
