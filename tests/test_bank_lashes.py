"""B's lash line no darker against the skin than the target's (``stages.faces.bank_lashes``): a
bank person's mascara is not painted onto bare lashes, B's own lashes stay where the target's are as
dark, and the eye's white and iris are left alone."""

from __future__ import annotations

import cv2
import numpy as np

from stages.faces.bank_lashes import LEAST, lash_ratios, toned_lashes
from tests.test_bank_swap import open_mouth, synthetic_bank

MASCARA = (25, 25, 35)
BARE = (120, 140, 185)  # a fair lash line: a little darker than the skin
IRIS = (40, 60, 90)


def _eyes(image: np.ndarray, points: np.ndarray, lashes: tuple, thickness: int) -> np.ndarray:
    """``image`` with each eye's white and iris filled in and its upper lid drawn as a lash line."""
    out = image.copy()
    for eye in (slice(36, 42), slice(42, 48)):
        outline = np.round(points[eye]).astype(np.int32)
        cv2.fillConvexPoly(out, outline, (220, 225, 230))
        centre = np.round(points[eye].mean(axis=0)).astype(int)
        cv2.circle(out, (int(centre[0]), int(centre[1])), 4, IRIS, -1)
        upper = np.round(points[eye][[0, 1, 2, 3]] - [0, thickness / 2]).astype(np.int32)
        cv2.polylines(out, [upper], False, lashes, thickness)
    return out


def _lid(image: np.ndarray, points: np.ndarray) -> float:
    """Mean lightness just above the upper lid of the face's right eye (where the lash line lies)."""
    x, y = np.round((points[37] + points[38]) / 2 - [0, 2]).astype(int)
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[y - 1:y + 2, x - 1:x + 2, 0].mean())


def test_mascara_on_bare_lashes_is_lightened_and_the_eye_left_alone() -> None:
    points = open_mouth(0.02)
    skin = synthetic_bank(points, inset=0.0, texture=2.0)[0].crops[0]
    bank = _eyes(skin, points, MASCARA, 4)
    bare = _eyes(synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0], points, BARE, 2)
    ratios = lash_ratios(bank, bare, points, points)
    assert np.all(ratios < 0.7) and np.all(ratios >= LEAST - 1e-6), ratios
    toned = toned_lashes(bank, points, ratios)
    assert _lid(toned, points) > _lid(bank, points) + 15  # the mascara lighter
    centre = np.round(points[36:42].mean(axis=0)).astype(int)
    iris = (slice(centre[1] - 2, centre[1] + 3), slice(centre[0] - 2, centre[0] + 3))
    assert np.array_equal(toned[iris], bank[iris])  # the iris untouched
    cheek = np.round(points[[2, 31]].mean(axis=0)).astype(int)
    assert np.abs(toned[cheek[1], cheek[0]].astype(int) - bank[cheek[1], cheek[0]].astype(int)).max() <= 1


def test_lashes_as_dark_as_the_targets_are_kept_and_a_targets_mascara_is_not_painted_on() -> None:
    points = open_mouth(0.02)
    skin = synthetic_bank(points, inset=0.0, texture=2.0)[0].crops[0]
    other = synthetic_bank(points, inset=0.0, texture=2.0, seed=5)[0].crops[0]
    bank = _eyes(skin, points, MASCARA, 4)
    assert np.all(lash_ratios(bank, _eyes(other, points, MASCARA, 4), points, points) > 0.95)
    bare_bank = _eyes(skin, points, BARE, 2)
    ratios = lash_ratios(bare_bank, _eyes(other, points, MASCARA, 4), points, points)
    assert np.all(ratios >= 0.99)  # only lighter
    assert np.array_equal(toned_lashes(bare_bank, points, ratios), bare_bank)
