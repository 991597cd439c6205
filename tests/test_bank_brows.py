"""B's brows as dark against the skin as the target's (``stages.faces.bank_brows``): a fair-haired
target's light brows are not painted as B's dark ones, a dark-browed target's are not painted as B's
faint ones, and a target with brows as dark keeps B's."""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_brows import MOST, brow_ratios, toned_brows
from tests.test_bank_swap import open_mouth, synthetic_bank

DARK_BROW = (30, 40, 60)
LIGHT_BROW = (110, 140, 190)  # a fair brow: a little darker and browner than the skin


def _with_brows(image: np.ndarray, points: np.ndarray, colour: tuple) -> np.ndarray:
    out = image.copy()
    for brow in (slice(17, 22), slice(22, 27)):
        cv2.polylines(out, [np.round(points[brow]).astype(np.int32)], False, colour, 5)
    return out


def _lab(image: np.ndarray, at: np.ndarray) -> np.ndarray:
    x, y = at
    return cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(float).mean(axis=0)


def test_a_fair_targets_brows_make_b_s_dark_brows_lighter_and_dark_ones_leave_them() -> None:
    points = open_mouth(0.02)
    face = synthetic_bank(points, inset=0.0, texture=2.0)[0].crops[0]
    bank = _with_brows(face, points, DARK_BROW)
    plain = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0]
    fair, dark = _with_brows(plain, points, LIGHT_BROW), _with_brows(plain, points, DARK_BROW)
    fair_ratios, dark_ratios = brow_ratios(bank, fair, points, points), brow_ratios(bank, dark, points, points)
    assert np.all(fair_ratios < 0.6) and np.all(dark_ratios > 0.99)
    brow, cheek = np.round(points[19]).astype(int), np.round(points[[2, 31]].mean(axis=0)).astype(int)
    lighter = toned_brows(bank, points, fair_ratios)
    assert np.array_equal(toned_brows(bank, points, dark_ratios), bank)  # as dark as B's: B's own
    before, after, skin = _lab(bank, brow), _lab(lighter, brow), _lab(bank, cheek)
    assert after[0] > before[0] + 20  # lighter
    # towards the skin's colour too, not only greyer: a fair brow, not a mauve one
    assert np.linalg.norm(after[1:] - skin[1:]) < 0.7 * np.linalg.norm(before[1:] - skin[1:])
    assert np.abs(_lab(lighter, cheek) - skin).max() < 1.0  # the skin round it stays


def test_a_dark_browed_target_makes_b_s_faint_brows_darker_within_most() -> None:
    points = open_mouth(0.02)
    bank = _with_brows(synthetic_bank(points, inset=0.0, texture=2.0)[0].crops[0], points, LIGHT_BROW)
    plain = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0]
    ratios = brow_ratios(bank, _with_brows(plain, points, DARK_BROW), points, points)
    assert np.all(ratios > 1.3) and np.all(ratios <= MOST + 1e-6), ratios
    brow, cheek = np.round(points[19]).astype(int), np.round(points[[2, 31]].mean(axis=0)).astype(int)
    darker = toned_brows(bank, points, ratios)
    before, after, skin = _lab(bank, brow), _lab(darker, brow), _lab(bank, cheek)
    assert before[0] - after[0] > 0.25 * (skin[0] - before[0])  # darker against the skin, by at least a quarter
    assert np.abs(_lab(darker, cheek) - skin).max() < 1.0  # the skin round it stays
