"""B's proportions on the target's expression (``stages/faces/bank_shape.py``), on synthetic faces."""

from __future__ import annotations

import numpy as np

from stages.faces.bank_match import normalise, normalising_factor
from stages.faces.bank_shape import MOST, in_pixels, shape_shift
from stages.faces.geometry import template_in_crop, transform


def mean_face() -> np.ndarray:
    return normalise(template_in_crop(256))


def eyes_apart(points: np.ndarray, amount: float) -> np.ndarray:
    """``points`` (normalised) with each eye moved ``amount`` outwards, as a wider-set pair of eyes."""
    moved = points.copy()
    moved[36:42, 0] -= amount
    moved[42:48, 0] += amount
    return moved


def test_a_wider_set_pair_of_eyes_moves_the_painted_eyes_apart_and_keeps_their_opening() -> None:
    target = mean_face()
    shift = shape_shift(target, eyes_apart(target, 0.05), trust=1.0)
    moved = target + shift
    assert np.allclose(moved[36:42, 0] - target[36:42, 0], -0.05, atol=1e-6)
    assert np.allclose(moved[42:48, 0] - target[42:48, 0], 0.05, atol=1e-6)
    lids = [(41, 37), (40, 38), (47, 43), (46, 44)]
    assert np.allclose([moved[a, 1] - moved[b, 1] for a, b in lids], [target[a, 1] - target[b, 1] for a, b in lids])
    assert np.abs(shift[np.r_[0:17, 27:36, 48:68]]).max() < 1e-9  # nothing else moves


def test_a_rest_shape_turned_to_one_side_moves_nothing_sideways() -> None:
    """A track filmed turned has every feature off to one side of B's frontal rest shape: that is the
    turn, not the person's proportions, and must not pull the painted nose back to the middle."""
    target = mean_face()
    turned = target.copy()
    turned[17:68, 0] += 0.04  # features to one side of the eyes-and-nose fit: a turn, seen in 2-D
    shift = shape_shift(turned, target, trust=1.0)
    assert np.abs(shift[:, 0]).max() < 1e-9


def test_a_young_track_takes_b_s_nose_and_eyes_at_once_and_its_mouth_and_brows_with_trust() -> None:
    """A first frame's smile or raised brows are not the person's own mouth or brows: those parts
    wait for the track's rest shape; nose and eye corners hardly move with expression."""
    target = mean_face()
    bank = target.copy()
    bank[27:36, 1] += 0.03  # a longer nose
    bank[48:68, 1] += 0.04  # the mouth lower under it
    bank[17:27, 1] -= 0.03  # higher brows
    young, grown = shape_shift(target, bank, trust=0.0), shape_shift(target, bank, trust=1.0)
    assert np.allclose(young[27:36, 1], 0.03) and np.allclose(grown[27:36, 1], 0.03)
    assert np.abs(young[np.r_[17:27, 48:68]]).max() < 1e-9
    assert np.allclose(grown[48:68, 1], 0.04) and np.allclose(grown[17:27, 1], -0.03)


def test_no_point_moves_further_than_the_cap() -> None:
    """A misfitted rest shape (landmarks on a hand) must not drag a feature across the face."""
    target = mean_face()
    shift = shape_shift(target, eyes_apart(target, 0.5), trust=1.0)
    assert np.linalg.norm(shift, axis=1).max() <= MOST + 1e-9


def test_a_shift_in_normalised_units_lands_as_that_shift_on_a_turned_scaled_face() -> None:
    points = template_in_crop(256)
    angle, scale = np.radians(-15), 0.6
    similarity = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 30.0],
                           [scale * np.sin(angle), scale * np.cos(angle), 12.0]])
    face = transform(points, similarity)
    shift = np.zeros((68, 2))
    shift[48:68] = [0.0, 0.05]  # the mouth lower by a twentieth of the eye distance
    moved = face + in_pixels(shift, normalising_factor(face))
    assert np.allclose(normalise(moved)[48:68] - normalise(face)[48:68], shift[48:68], atol=1e-6)


def test_a_small_face_keeps_its_own_proportions_and_a_large_one_takes_b_s() -> None:
    """On a small face the target's features, blurred by the upscaling, are part of the slow light the
    shading match carries; B's features moved off them showed beside a soft second outline (a boy of
    the crowd clip, 45-55 px between his eye corners). Below ``SMALL_FACE`` nothing moves."""
    from pipeline.frame import Face
    from stages.faces.bank import FaceBank
    from stages.faces.bank_match import describe
    from stages.faces.bank_swap import SMALL_FACE, BankSwapper, small_face_share
    from stages.faces.geometry import inter_ocular

    crop_points = template_in_crop(256)
    wide = crop_points.copy()
    wide[36:42, 0] -= 6.0  # B's eyes set wider apart
    wide[42:48, 0] += 6.0
    landmarks = wide[None].astype(np.float32)
    bank = FaceBank(np.zeros((1, 256, 256, 3), np.uint8), landmarks, describe(landmarks), np.zeros(1, np.int32),
                    "photos", "synthetic")
    moved = {}
    for name, target_iod in (("small", SMALL_FACE[0] - 5.0), ("large", SMALL_FACE[1] + 20.0)):
        scale = target_iod / inter_ocular(crop_points)  # frame px per crop px
        swapper = BankSwapper(bank)
        face = Face(box=np.zeros(4, np.float32), landmarks=crop_points * scale, track_id=0,
                    matrix=np.array([[1.0 / scale, 0.0, 0.0], [0.0, 1.0 / scale, 0.0]]))
        for frame in range(3):
            swapper.matcher.pick_groups(crop_points, 0, frame)
            shaped = swapper._shaped(crop_points, face, frame)
        moved[name] = float(np.abs(shaped - crop_points).max())
    assert moved["small"] == 0.0
    assert moved["large"] > 2.0
    assert small_face_share(SMALL_FACE[0]) == 0.0 and small_face_share(SMALL_FACE[1]) == 1.0


def test_a_face_that_keeps_its_own_eyes_keeps_them_where_they_are() -> None:
    """A face painted with the bundled person of the other sex keeps its own brows and eyes; moved to
    B's proportions, its own lids were stretched to B's eye width. Its nose and mouth still move."""
    from pipeline.frame import Face
    from stages.faces.bank import FaceBank
    from stages.faces.bank_match import describe
    from stages.faces.bank_swap import BankSwapper

    crop_points = template_in_crop(256)
    other = crop_points.copy()
    other[36:42, 0] -= 6.0  # B's eyes set wider apart
    other[42:48, 0] += 6.0
    other[48:68, 1] -= 5.0  # and B's mouth nearer the nose
    landmarks = other[None].astype(np.float32)
    bank = FaceBank(np.zeros((1, 256, 256, 3), np.uint8), landmarks, describe(landmarks), np.zeros(1, np.int32),
                    "photos", "synthetic")
    shaped = {}
    for own_eyes in (False, True):
        swapper = BankSwapper(bank)
        face = Face(box=np.zeros(4, np.float32), landmarks=crop_points * 2.0, track_id=0,
                    matrix=np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]))
        for frame in range(40):  # long enough for the track's own rest shape to be trusted
            swapper.matcher.pick_groups(crop_points, 0, frame)
        shaped[own_eyes] = swapper._shaped(crop_points, face, 40, own_eyes)
    eyes, mouth = np.r_[17:27, 36:48], np.r_[48:68]
    assert np.abs(shaped[False][eyes] - crop_points[eyes]).max() > 2.0  # what this replaces
    assert np.abs(shaped[True][eyes] - crop_points[eyes]).max() == 0.0
    assert np.abs(shaped[True][mouth] - crop_points[mouth]).max() > 2.0
