"""The painted face holds no more colour than the footage it is painted into (``stages.faces.chroma``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stages.faces.bank_warp import apply_colour_and_light
from stages.faces.chroma import chroma_ceiling
from tests.conftest import media


def _chroma(image: np.ndarray) -> np.ndarray:
    """CIE chroma per pixel (float Lab: OpenCV's 8-bit Lab rounds a dark grey into colour)."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    return np.hypot(lab[..., 1], lab[..., 2])


def test_a_pixel_past_the_ceiling_keeps_its_hue_and_lightness_and_the_rest_keep_their_values() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2] = (200, 120, 60)  # a saturated blue (BGR)
    image[2:] = (128, 130, 132)  # nearly grey
    centre = np.array([128.0, 128.0], np.float32)
    unit, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    out = apply_colour_and_light(image, unit, zero, chroma=(centre, 6.0))
    assert np.array_equal(out[2:], apply_colour_and_light(image, unit, zero)[2:])
    before, after = (cv2.cvtColor(x, cv2.COLOR_BGR2LAB).astype(float)[0, 0] for x in (image, out))
    assert _chroma(image)[0, 0] > 20 and np.hypot(after[1] - 128, after[2] - 128) <= 7.0
    assert abs(after[0] - before[0]) <= 2  # lightness
    hue = [np.arctan2(x[2] - 128, x[1] - 128) for x in (before, after)]
    assert abs(hue[0] - hue[1]) < 0.2
    assert np.array_equal(apply_colour_and_light(image, unit, zero, chroma=(centre, 200.0)),
                          apply_colour_and_light(image, unit, zero))


def test_a_grey_crop_sets_a_ceiling_of_rounding_and_a_colour_crop_one_above_any_face() -> None:
    photo = cv2.imread(str(media("0-f15-hao-ph.jpg")))
    grey = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    centre = np.array([128.0, 128.0], np.float32)
    assert chroma_ceiling(grey, centre) <= 1.5
    assert chroma_ceiling(photo, centre) > 15.0


def test_a_black_and_white_photo_gets_a_grey_face_and_a_colour_one_keeps_b_s_colours(tmp_path: Path) -> None:
    """B's irises, lips and brows stayed in colour inside a grey face: a black and white clip came out
    with blue eyes."""
    from pipeline.cli.settings import load_config
    from pipeline.cli.video_job import run_in_memory

    photo = cv2.imread(str(media("0-f15-hao-ph.jpg")))
    grey_path = tmp_path / "grey.png"
    cv2.imwrite(str(grey_path), cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    painted = {}
    for name, path in (("grey", grey_path), ("colour", media("0-f15-hao-ph.jpg"))):
        frames, _ = run_in_memory(path, load_config())
        face = next(f for f in frames[0].faces if f.swapped is not None)
        region = np.zeros(frames[0].image.shape[:2], np.uint8)
        cv2.fillConvexPoly(region, cv2.convexHull(np.round(face.landmarks[17:]).astype(np.int32)), 1)
        region = region > 0
        image, original = frames[0].image, frames[0].meta["original"]
        assert np.abs(image.astype(int) - original.astype(int)).sum(axis=2)[region].mean() > 10  # it was painted
        painted[name] = _chroma(image)[region]
    assert np.percentile(painted["grey"], 99.9) <= 2.5  # rounding of the 8-bit trips through Lab
    assert np.percentile(painted["colour"], 99) > 10.0
