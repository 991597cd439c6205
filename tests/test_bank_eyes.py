"""Shut and downcast eyes under the retrieval swap (``stages.faces.bank_eyes``, ``bank_match``'s
``WIDE`` term): a closed eye is never painted as a slit of B's open eye."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from stages.faces.bank import FaceBank
from pipeline.frame import Face
from stages.faces.bank_eyes import (covered_eyes, eye_whites, keep_weights, kept_eyes, lid_gaps, lid_window,
                                   own_brows_and_eyes)
from stages.faces.bank_match import LOWER, UPPER, BankMatcher, describe
from stages.faces.bank_swap import BankSwapper, beard_area
from tests.test_bank_swap import GREY_BGR, SKIN_BGR, expressive, paint_one

LID_BGR = (120, 170, 215)  # the target's closed lids: a skin tone of their own, unlike the bank's
IRIS_BGR = (60, 40, 90)
BACKDROP_BGR = (190, 120, 60)  # behind the target's head (colour footage: not only skin in the crop)


def test_a_shut_eye_is_kept_only_where_the_painted_one_is_clearly_more_open() -> None:
    weights = keep_weights(np.array([0.1, 0.1]), np.array([0.9, 0.15]))
    assert weights[0] > 0.99  # shut under B's open eye: the target's lids
    assert weights[1] < 0.5  # B's eye is nearly as closed: B's
    assert np.all(keep_weights(np.array([0.9, 0.7]), np.array([1.2, 1.0])) == 0.0)  # open eyes stay B's
    assert np.all(keep_weights(np.array([0.2, 0.2]), np.array([0.2, 0.1])) == 0.0)  # B's shut eye paints a shut eye


def test_the_lid_window_holds_the_eye_and_its_lids_but_not_the_brow() -> None:
    points = expressive()
    window = lid_window(points, 256, 0)
    eye = np.round(points[36:42].mean(axis=0)).astype(int)
    lid = np.round(points[[37, 38]].mean(axis=0) - [0, 0.3 * np.linalg.norm(points[39] - points[36])]).astype(int)
    brow = np.round(points[17:22].mean(axis=0)).astype(int)
    other = np.round(points[42:48].mean(axis=0)).astype(int)
    assert window[eye[1], eye[0]] > 0.95 and window[lid[1], lid[0]] > 0.5
    assert window[brow[1], brow[0]] < 0.05 and window[other[1], other[0]] < 0.01
    assert kept_eyes(points, 256, np.zeros(2, np.float32)) is None


def test_a_downcast_eye_is_painted_with_the_banks_half_shut_eye_not_its_open_one() -> None:
    """On the sample her eyes, downcast at half their rest opening, were painted with the man's at 0.85
    while his bank held eyes at 0.4: the pose outvoted the eyes' opening."""
    downcast = expressive(shut=0.03)
    wide_open = expressive()
    bank = describe(np.stack([wide_open, expressive(shut=0.025)]))
    bank.pose[1, 0] += 0.2  # the half-shut eyes come with a head turned a little further
    points_only = BankMatcher(replace(bank, openness=None), stickiness=0.0, groups=(UPPER, LOWER))
    matcher = BankMatcher(bank, stickiness=0.0, groups=(UPPER, LOWER))
    assert points_only.pick_groups(downcast, -1, 0)[0].index == 0  # what this replaces: the open eye
    assert matcher.pick_groups(downcast, -1, 0)[0].index == 1


def _open_eyed_bank() -> FaceBank:
    """One bank face, eyes wide open (dark iris between the lids), on plain skin."""
    points = expressive()
    image = np.full((256, 256, 3), GREY_BGR, np.uint8)
    cv2.fillConvexPoly(image, cv2.convexHull(np.round(points[:27]).astype(np.int32)), SKIN_BGR)
    for eye in (slice(36, 42), slice(42, 48)):
        cv2.fillConvexPoly(image, np.round(points[eye]).astype(np.int32), IRIS_BGR)
    landmarks = points[None].astype(np.float32)
    return FaceBank(image[None], landmarks, describe(landmarks), np.zeros(1, np.int32), "photos", "synthetic")


def _shut_lids_target(points: np.ndarray) -> np.ndarray:
    """A crop of skin whose eyes, around ``points``' eye contours, are closed lids (``LID_BGR``)."""
    target = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    for eye in (0, 1):
        target[lid_window(points, 256, eye) > 0.5] = LID_BGR
    return target


def test_a_shut_target_eye_shows_its_own_lids_not_a_slit_of_the_banks_open_eye() -> None:
    shut = expressive(shut=0.055)  # both eyes closed
    target = _shut_lids_target(shut)
    closure = np.round(shut[[37, 41]].mean(axis=0)).astype(int)  # on the line where the lids meet
    painted = {}
    for eyes in ("target", "bank"):
        face = paint_one(_open_eyed_bank(), target, shut, eyes=eyes, grain=False, sharpen=False)
        painted[eyes] = face.swapped[closure[1] - 1:closure[1] + 2, closure[0] - 1:closure[0] + 2].astype(int)
    lids = np.array(LID_BGR)
    assert np.abs(painted["target"] - lids).max() <= 12  # the target's own closed lids
    assert np.abs(painted["bank"] - lids).max() > 40  # what this replaces: B's open eye squeezed into a slit


def test_a_face_painted_with_the_other_sex_keeps_its_own_brows_eyes_and_chin_and_takes_b_s_nose() -> None:
    """The bundled woman's mascara and groomed brows on the bundled man's own footage (the woman is
    the only other bundled person) were what viewers named first, with confidence; her smooth chin
    beside his stubbly neck was the next."""
    points = expressive()
    target = np.full((256, 256, 3), BACKDROP_BGR, np.uint8)  # a blue backdrop: a crop holds more than skin
    cv2.fillConvexPoly(target, cv2.convexHull(np.round(points[:27]).astype(np.int32)), SKIN_BGR)  # no make-up, no brow
    window = own_brows_and_eyes(points, 256) > 0.5
    low_brow = points[17:22] + (points[36:42].mean(axis=0) - points[17:22].mean(axis=0)) * 0.25  # inside the face's outline
    brow = np.round(low_brow[2]).astype(int)
    eye = np.round(points[[37, 41]].mean(axis=0)).astype(int)
    nose = np.round(points[[29, 30]].mean(axis=0)).astype(int)
    assert window[brow[1], brow[0]] and window[eye[1], eye[0]] and not window[nose[1], nose[0]]
    bank = _open_eyed_bank()
    cv2.polylines(bank.crops[0], [np.round(low_brow).astype(np.int32)], False, (20, 20, 20), 5)  # B's brow
    chin = np.round(points[[57, 8]].mean(axis=0)).astype(int)
    bank.crops[0][beard_area(points, 256) > 0.5] = (70, 80, 90)  # B's stubble
    painted = {}
    for own_eyes in (True, False):
        painted[own_eyes] = paint_one(bank, target, points, own_eyes=own_eyes, grain=False, sharpen=False).swapped.astype(int)
    skin = np.array(SKIN_BGR)
    for spot in (brow, eye, chin):
        assert np.abs(painted[True][spot[1], spot[0]] - skin).max() <= 12  # the target's own
        assert np.abs(painted[False][spot[1], spot[0]] - skin).max() > 12  # B's dark brow, open eye and stubble
    assert np.abs(painted[True][nose[1], nose[0]] - painted[False][nose[1], nose[0]]).max() <= 2  # the nose stays B's


def test_a_blink_the_smoothed_landmarks_lag_behind_is_read_from_the_raw_fit() -> None:
    """The landmark filter steadies the crop and lags a blink: on a woman blinking behind glasses the
    smoothed points read her eyes 0.77 open on a frame where the raw fit read 0.5 and they were shut,
    and B's open eyes were painted until hers had opened again."""
    smoothed = expressive()  # what the filter still says: open
    target = _shut_lids_target(smoothed)
    centre = np.round(smoothed[36:42].mean(axis=0)).astype(int)
    painted = {}
    for name, raw in (("lagging", None), ("raw", expressive(shut=0.055))):
        face = Face(box=np.array([0, 0, 256, 256], np.float32), crop=target, landmarks=smoothed,
                    landmarks_raw=raw, matrix=np.eye(2, 3))
        BankSwapper(_open_eyed_bank(), grain=False, sharpen=False).paint(face, 0)
        painted[name] = face.swapped[centre[1], centre[0]].astype(int)
    assert np.abs(painted["raw"] - np.array(LID_BGR)).max() <= 12  # her shut lids, on this frame
    assert np.abs(painted["lagging"] - np.array(IRIS_BGR)).max() <= 40  # what this replaces: B's open eye


def test_the_raw_fits_tremble_does_not_reach_the_bank_pick() -> None:
    """Within ``RAW_LIDS_MARGIN`` the raw lids are taken as the smoothed ones: a raw fit trembling by a
    few per cent changed the picked bank eye from frame to frame (flicker on ``lp_d18``)."""
    smoothed = expressive(shut=0.01)
    trembling = smoothed.copy()
    trembling[[37, 38, 43, 44], 1] += 0.02 * np.linalg.norm(smoothed[39] - smoothed[36])
    swapper = BankSwapper(_open_eyed_bank())
    face = Face(box=np.array([0, 0, 256, 256], np.float32), crop=np.zeros((256, 256, 3), np.uint8),
                landmarks=smoothed, landmarks_raw=trembling, matrix=np.eye(2, 3))
    assert np.array_equal(swapper._described(face, smoothed, 0), smoothed)
    face.landmarks_raw = expressive(shut=0.05)  # a blink: the lids close in
    described = swapper._described(face, smoothed, 1)
    assert (lid_gaps(described) < 0.8 * lid_gaps(smoothed)).all()


def test_a_blink_fades_in_over_two_frames_and_a_new_mouth_over_the_crossfade() -> None:
    """A change of bank face that shuts an eye fades in over ``BLINK_FADE`` frames: over four, B's eyes
    shut late, opened late, and showed an open eye and a shut one laid over each other half way."""
    from stages.faces.bank_match import BLINK_FADE

    open_eyes, shut_eyes = expressive(), expressive(shut=0.055)
    grin = expressive(grin=0.04)
    bank = describe(np.stack([open_eyes, shut_eyes, grin]))
    weights = {}
    for name, after in (("blink", shut_eyes), ("grin", grin)):
        matcher = BankMatcher(bank, stickiness=0.0, crossfade=4, groups=(UPPER, LOWER))
        for frame in range(3):
            matcher.pick_groups(open_eyes, 0, frame)
        group = 0 if name == "blink" else 1
        weights[name] = [matcher.pick_groups(after, 0, frame)[group].weight for frame in range(3, 8)]
    assert weights["blink"][:BLINK_FADE] == [0.5, 1.0]  # the new eye whole on the second frame
    assert weights["grin"][:4] == [0.25, 0.5, 0.75, 1.0]  # the mouth's change keeps its crossfade


WHITE_BGR = (225, 228, 230)  # the white of an eye: lighter and greyer than skin


def _eye_crop(points: np.ndarray, whites: bool) -> np.ndarray:
    """Skin with both eyes drawn in ``points``' outlines: a white with a dark iris in its middle, or
    (``whites`` False) lid skin and a dark lash line, as a blink whose lashes came down first."""
    image = np.full((256, 256, 3), SKIN_BGR, np.uint8)
    for eye in (slice(36, 42), slice(42, 48)):
        outline = np.round(points[eye]).astype(np.int32)
        if whites:
            cv2.fillConvexPoly(image, outline, WHITE_BGR)
            centre = np.round(points[eye].mean(axis=0)).astype(int)
            cv2.circle(image, tuple(int(v) for v in centre), 4, IRIS_BGR, -1)
        else:
            cv2.fillConvexPoly(image, outline, LID_BGR)
            cv2.polylines(image, [outline[[0, 1, 2, 3]]], False, (30, 30, 30), 2)
    return image


def test_an_eye_showing_its_white_reads_as_such_and_one_whose_lids_cover_it_reads_none() -> None:
    points = expressive()
    open_eyes = eye_whites(_eye_crop(points, whites=True), points)
    covered = eye_whites(_eye_crop(points, whites=False), points)
    assert np.all(open_eyes > 0.4) and np.all(covered < 0.05)


def test_covered_eyes_are_read_against_the_banks_own_open_eyes_and_not_in_footage_too_dim_to_tell() -> None:
    whites = np.array([[0.2, 0.18]] * 8 + [[0.01, 0.0], [0.19, 0.02]], np.float32)
    covered = covered_eyes(whites)
    assert not covered[:8].any()
    assert covered[8].all() and list(covered[9]) == [False, True]  # one eye covered, the other open
    assert not covered_eyes(whites * 0.1).any()  # no eye shows enough white to read


def test_a_bank_eye_whose_lids_cover_its_iris_is_not_painted_on_an_open_eye() -> None:
    """The bundled woman's blink, its lashes down and dlib's points on them, matched a smiling photo's
    narrow eyes better in landmarks than any of her open eyes did, and painted a lash fringe over
    them."""
    target = expressive(shut=0.02)  # narrowed, iris showing
    bank = describe(np.stack([expressive(shut=0.02), expressive()]))  # the blink fits the landmarks
    covered = np.array([[True, True], [False, False]])
    assert BankMatcher(bank, stickiness=0.0, groups=(UPPER, LOWER)).pick_groups(target, -1, 0)[0].index == 0
    picked = BankMatcher(bank, stickiness=0.0, groups=(UPPER, LOWER), covered=covered).pick_groups(target, -1, 0)
    assert picked[0].index == 1
    blinking = expressive(shut=0.055)  # a shut target eye may still take the covered one
    assert BankMatcher(bank, stickiness=0.0, groups=(UPPER, LOWER), covered=covered).pick_groups(blinking, -1, 0)[0].index == 0


def test_the_bundled_banks_blinks_read_as_covered_and_their_open_eyes_do_not() -> None:
    """Checked by eye on every face of both banks: her blink (34) and laughing shut eyes (130), his
    blinks (27, 98); her open eyes (36) and smile-narrowed ones (110), his open eyes (30)."""
    from pathlib import Path

    from stages.faces.bank import read_bank

    root = Path(__file__).resolve().parents[1] / "models" / "bundled_bank"
    for name, shut, open_ in (("woman.npz", (34, 130), (36, 110)), ("bank.npz", (27, 98), (30,))):
        bank = read_bank(root / name)
        covered = covered_eyes(np.array([eye_whites(crop, points) for crop, points in zip(bank.crops, bank.landmarks)]))
        assert all(covered[k].all() for k in shut), name
        assert not any(covered[k].any() for k in open_), name


def test_a_user_can_keep_every_faces_own_eyes_whoever_paints_it() -> None:
    """``swap.bank_own_eyes``: the bundled woman's mascara on another woman (a smiling photo) is B's
    eye by default, and the photo's own eye with the option."""
    from pipeline.cli.settings import load_config
    from pipeline.cli.video_job import run_in_memory
    from tests.conftest import media

    changed = {}
    for own in (False, True):
        frames, _ = run_in_memory(media("0-f15-hao-ph.jpg"), load_config(overrides=[f"swap.bank_own_eyes={str(own).lower()}"]))
        face = next(f for f in frames[0].faces if f.swapped is not None)
        eyes = np.zeros(frames[0].image.shape[:2], np.uint8)
        for eye in (slice(36, 42), slice(42, 48)):
            cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(face.landmarks[eye]).astype(np.int32)), 1)
        eyes = cv2.dilate(eyes, np.ones((7, 7), np.uint8)) > 0
        difference = np.abs(frames[0].image.astype(int) - frames[0].meta["original"].astype(int)).sum(axis=2)
        changed[own] = float(difference[eyes].mean())
    assert changed[False] > 40.0 and changed[True] < 0.4 * changed[False], changed
