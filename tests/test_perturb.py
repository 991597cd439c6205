"""DeeperForensics perturbations on a real frame: each does what its parameters say."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.corpus.perturb import LEVELS, FramePerturber, Step, parse_variant, resolve
from pipeline.errors import FacepipeError
from tests.conftest import media, read_frames


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return read_frames(media("single_face.mp4"))[10]


def apply(kind: str, level: int, image: np.ndarray, seed: int = 0) -> np.ndarray:
    return FramePerturber([Step(kind, level)], seed)(image)


def test_parameters_are_deeperforensics(frame) -> None:
    assert LEVELS["CS"] == (0.4, 0.3, 0.2, 0.1, 0.0) and LEVELS["GB"] == (7, 9, 13, 17, 21)
    assert LEVELS["VC"] == (30, 32, 35, 38, 40) and LEVELS["JPEG"] == (2, 3, 4, 5, 6)


def test_saturation_level_5_removes_colour(frame) -> None:
    grey = apply("CS", 5, frame)
    chroma = cv2.cvtColor(grey, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int) - 128
    assert np.abs(chroma).max() <= 2
    luma = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)[..., 0].astype(int)
    assert np.abs(cv2.cvtColor(grey, cv2.COLOR_BGR2YCrCb)[..., 0].astype(int) - luma).mean() < 2


def test_contrast_scales_pixels(frame) -> None:
    out = apply("CC", 3, frame)  # x 0.6
    assert abs(out.astype(float).mean() - 0.6 * frame.astype(float).mean()) < 1.0


def test_block_wise_paints_grey_8x8_blocks(frame) -> None:
    out = apply("BW", 2, frame)  # 32 x (360 // 256 = 1) blocks
    changed = np.any(out != frame, axis=2)
    assert (out[changed] == 128).all()
    assert 8 * 8 * 10 <= changed.sum() <= 8 * 8 * 32


def test_colour_noise_has_the_level_std(frame) -> None:
    out = apply("GNC", 4, frame)  # sqrt(0.01) = 0.1 of full range in YCbCr
    diff = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb).astype(float) - cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(float)
    mid = (cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)[..., 0] > 60) & (cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)[..., 0] < 190)
    assert 20 < diff[..., 0][mid].std() < 30  # 25.5 before clipping


def test_blur_and_jpeg_remove_detail(frame) -> None:
    def detail(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert detail(apply("GB", 5, frame)) < 0.1 * detail(frame)
    assert detail(apply("JPEG", 5, frame)) < 0.3 * detail(frame)
    assert apply("JPEG", 5, frame).shape == frame.shape


def test_variants_parse_and_random_draws_are_seeded() -> None:
    assert parse_variant("cs:3+GB:2") == "CS:3+GB:2"
    with pytest.raises(FacepipeError):
        parse_variant("CS:3+CS:2")
    with pytest.raises(FacepipeError):
        parse_variant("GB:6")
    first = resolve("random3", 7, "real-000")
    assert first == resolve("random3", 7, "real-000") and len({s.kind for s in first}) == 3
    draws = {tuple(resolve("random", 7, f"real-{n:03d}")) for n in range(20)}
    assert len(draws) > 5
