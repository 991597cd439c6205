"""A head turned further than the bank face keeps its own nose (``stages/faces/bank_pose.py``)."""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_match import head_pose
from stages.faces.bank_pose import TURN_START, nose_area, turned_past
from stages.faces.geometry import template_in_crop
from tests.test_bank_swap import SKIN_BGR, paint_one, synthetic_bank

NOSE_BGR = (60, 200, 60)  # the target's nose, in a colour no painted skin takes


def turned(amount: float) -> np.ndarray:
    """The mean face in a 256 crop with its nose moved sideways by ``amount`` x the jaw's width (the
    tip all the way, the bridge less towards the brows), as a turned head shows it: a head turned by
    ``amount`` in ``head_pose``'s yaw."""
    points = template_in_crop(256).copy()
    width = points[16, 0] - points[0, 0]
    rise = {27: 0.25, 28: 0.5, 29: 0.75, 30: 1.0, 31: 0.8, 32: 0.9, 33: 1.0, 34: 0.9, 35: 0.8}
    for number, share in rise.items():
        points[number, 0] += amount * width * share
    return points


def test_only_a_head_turned_past_the_bank_face_keeps_its_nose() -> None:
    frontal = template_in_crop(256)
    assert abs(head_pose(turned(0.25))[0, 0] - 0.25) < 0.01
    assert turned_past(frontal, frontal) == 0.0
    assert turned_past(turned(TURN_START - 0.03), frontal) == 0.0  # a little turn: B's nose
    assert turned_past(turned(0.25), frontal) == 1.0
    assert turned_past(turned(-0.25), frontal) == 1.0  # either way
    assert turned_past(turned(0.25), turned(0.22)) == 0.0  # a bank face turned as far paints its own nose
    assert turned_past(turned(0.25), turned(-0.15)) == 1.0  # one turned the other way does not


def test_the_nose_area_covers_the_nose_and_not_the_eyes_or_mouth() -> None:
    points = turned(0.25)
    area = nose_area(points, 256)
    at = lambda number: area[int(round(points[number, 1])), int(round(points[number, 0]))]  # noqa: E731
    assert at(30) > 0.9 and at(29) > 0.9
    assert max(at(37), at(44), at(62)) < 0.05  # the eyes' lids and the mouth stay B's
    assert max(at(39), at(42)) < 0.5  # and the eyes' inner corners


def test_on_a_turned_head_the_painted_face_shows_the_targets_own_nose() -> None:
    """A frontal bank face on a head turned by 0.25: the target's own nose where it was, B's paint
    everywhere else; on a frontal head, or with ``turned_nose`` off, B's nose."""
    frontal = template_in_crop(256)
    bank, _ = synthetic_bank(frontal)
    for amount, keeps in ((0.25, True), (0.0, False)):
        points = turned(amount)
        target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
        tip = np.round(points[[29, 30]].mean(axis=0)).astype(int)
        cv2.circle(target, tuple(int(v) for v in tip), 8, NOSE_BGR, -1)
        cheek = np.round(points[[3, 30]].mean(axis=0) * [1, 0.9]).astype(int)
        for turned_nose in (True, False):
            painted = paint_one(bank, target, points, turned_nose=turned_nose).swapped.astype(int)
            nose_is_target = np.abs(painted[tip[1], tip[0]] - NOSE_BGR).max() <= 12
            assert nose_is_target == (keeps and turned_nose), (amount, turned_nose)
            assert np.abs(painted[cheek[1], cheek[0]] - SKIN_BGR).max() <= 12  # the rest is B's skin
