"""What a viewer sees in a swap: hands kept in front of the face, a mouth that follows, detail, colour.

Runs the default convert stages in memory (``pipeline.cli.video_job.run_in_memory``) on real clips and
measures the output against its input with ``stages.faces.measures`` (the same code as ``bench/quality.py``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cli.settings import load_config
from pipeline.errors import FacepipeError
from pipeline.cli.video_job import run_in_memory
from stages.faces import measures
from tests.conftest import REPO, media, read_frames

HANDS = REPO / "tests" / "data" / "hands"
SAMPLE = REPO / "samples" / "sample.mp4"
SAMPLE_FPS = 23.976


def _labels() -> dict[int, np.ndarray]:
    return {int(p.stem.split("_")[-1]): cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127
            for p in sorted(HANDS.glob("sample_*.png"))}


def _run(path: Path, *sets: str) -> tuple[list, dict]:
    return run_in_memory(path, load_config(overrides=list(sets)))


@pytest.fixture(scope="module")
def sample_hands() -> tuple[list, dict[int, np.ndarray]]:
    """The sample from a few frames before the first labelled hand to the last one, default settings."""
    labels = _labels()
    first, last = min(labels), max(labels)
    start = first - 4
    # half a frame early: ffmpeg's accurate seek then starts exactly at frame ``start``
    frames, _ = _run(SAMPLE, f"decode.start={(start - 0.5) / SAMPLE_FPS:.4f}", f"decode.max_frames={last - start + 1}")
    by_index = {start + i: f for i, f in enumerate(frames)}  # decode.start renumbers from 0
    chosen = [by_index[i] for i in sorted(labels)]
    reference = read_frames(SAMPLE)
    for index, frame in zip(sorted(labels), chosen):
        assert np.array_equal(frame.meta["original"], reference[index]), f"seek missed frame {index}"
    return chosen, labels


def test_there_are_at_least_eight_labelled_hand_frames() -> None:
    labels = _labels()
    assert len(labels) >= 8
    assert all(mask.shape == (360, 640) and 500 < mask.sum() < 40000 for mask in labels.values())


def test_fingers_in_front_of_the_face_keep_their_pixels(sample_hands: tuple[list, dict]) -> None:
    frames, labels = sample_hands
    kept = []
    for frame, (index, label) in zip(frames, sorted(labels.items())):
        assert any(face.swapped is not None for face in frame.faces), f"frame {index}: no face swapped"
        kept.append(measures.kept_share(frame.image, frame.meta["original"], label, tolerance=12))
    assert np.mean(kept) >= 0.90, [round(k, 3) for k in kept]


def test_the_rest_of_the_face_is_still_swapped(sample_hands: tuple[list, dict]) -> None:
    """Away from the hand, a quarter of the face changes: the sample is the bundled woman's footage,
    painted with the man, whose nose, mouth, cheeks and forehead replace hers while her own brows,
    eyes and chin stay, her brows and eyes in their own places (``swap.bank_other_sex``,
    ``BankSwapper._shaped``: 0.27 of the face region; 0.36 when they were moved to his proportions,
    0.46 with his eyes and brows too). A swap that kept the face as it was changes next to none of it."""
    frames, labels = sample_hands
    changed = []
    for frame, (_, label) in zip(frames, sorted(labels.items())):
        face = next(f for f in frame.faces if f.swapped is not None)
        near_hand = cv2.dilate(label.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
        rest = measures.face_region(frame.image.shape, face.landmarks) & ~near_hand
        changed.append(1.0 - measures.kept_share(frame.image, frame.meta["original"], rest, tolerance=12))
    assert np.mean(changed) >= 0.2, [round(c, 3) for c in changed]


@pytest.fixture(scope="module")
def man_b2a() -> dict[str, list]:
    """The man's clip painted as A by the bundled pair model, with the mouth mask off (default) and on."""
    clip = media("single_face.mp4")
    common = ("decode.max_frames=36", "swap.model='bundled'", "swap.direction='b2a'")
    return {"default": _run(clip, *common)[0], "mouth": _run(clip, *common, "blend.mouth='source'")[0],
            "no_detail": _run(clip, *common, "blend.detail=0.0")[0]}


def _refit(frame) -> np.ndarray:  # noqa: ANN001
    from pipeline.frame import Face
    from stages.faces.landmarkers import LANDMARKERS
    from stages.landmarks import LandmarksConfig

    face = next(f for f in frame.faces if f.swapped is not None)
    model = LANDMARKERS.load("dlib").from_config(LandmarksConfig(), "cpu")
    return face, model(frame.image, Face(box=face.box.copy(), points5=face.points5))


@pytest.mark.slow  # the pair model's mouth mask (not the default swap): three more converts, 23 s
def test_mouth_mask_makes_the_mouth_follow_the_source(man_b2a: dict[str, list]) -> None:
    source, output = [], []
    for frame in man_b2a["mouth"]:
        face, refit = _refit(frame)
        source.append(measures.mouth_opening(face.landmarks_raw))
        output.append(measures.mouth_opening(refit))
    assert np.std(source) > 0.02, "the clip's mouth must move for this test to mean anything"
    assert measures.correlation(source, output) >= 0.85


def test_mouth_mask_changes_only_the_mouth(man_b2a: dict[str, list]) -> None:
    for with_mouth, without in zip(man_b2a["mouth"][::6], man_b2a["default"][::6]):
        face = next(f for f in with_mouth.faces if f.swapped is not None)
        diff = np.abs(with_mouth.image.astype(int) - without.image.astype(int)).max(axis=2) > 12
        lips = face.landmarks[48:60]
        width = np.linalg.norm(lips[6] - lips[0])
        ys, xs = np.nonzero(diff)
        if len(xs):
            distance = np.linalg.norm(np.stack([xs, ys], 1) - lips.mean(axis=0), axis=1)
            assert np.percentile(distance, 99) < width * 1.2


def test_detail_brings_back_sharpness_without_losing_the_swap(man_b2a: dict[str, list]) -> None:
    def ratio(frames: list) -> float:
        sharp_in = sharp_out = 0.0
        for frame in frames:
            face = next(f for f in frame.faces if f.swapped is not None)
            region = measures.face_region(frame.image.shape, face.landmarks)
            sharp_in += measures.laplacian_variance(frame.meta["original"], region)
            sharp_out += measures.laplacian_variance(frame.image, region)
        return sharp_out / sharp_in

    with_detail, without = ratio(man_b2a["default"]), ratio(man_b2a["no_detail"])
    assert with_detail >= 0.6 > without, (with_detail, without)


def test_swapped_face_takes_the_frames_grade(man_b2a: dict[str, list]) -> None:
    differences = []
    for frame in man_b2a["default"]:
        face = next(f for f in frame.faces if f.swapped is not None)
        region = measures.face_region(frame.image.shape, face.landmarks)
        differences.append(np.abs(measures.lab_mean(frame.image, region) - measures.lab_mean(frame.meta["original"], region)))
    mean = np.mean(differences, axis=0)
    assert mean[0] <= 4 and mean[1] <= 3 and mean[2] <= 3, mean


def test_bundled_segmenter_marks_a_synthetic_hand_as_not_face() -> None:
    """A face crop with fingers painted over its cheek: the fingers score low, the open face high."""
    from models.segmenter import Segmenter
    from models.synthetic_occluders import fingers

    frames, _ = _run(media("single_face.mp4"), "decode.max_frames=1")
    face = frames[0].faces[0]
    crop, hull = face.crop, face.mask
    rng = np.random.default_rng(3)
    content, alpha = fingers(crop, hull, rng)
    painted = np.clip(content * alpha[..., None] + crop * (1 - alpha[..., None]), 0, 255).astype(np.uint8)
    visible = Segmenter()([painted, crop])
    fingers = (alpha > 0.9) & (hull > 0.9)
    open_face = (cv2.dilate((alpha > 0.1).astype(np.uint8), np.ones((15, 15), np.uint8)) == 0) & (hull > 0.99)
    assert fingers.sum() > 200 and open_face.sum() > 2000
    # the bundled segmenter scores fingers 0.05 on average over ten draws (edges and tips are the misses)
    assert visible[0][fingers].mean() < 0.5
    assert visible[0][open_face].mean() > 0.8
    assert visible[0][open_face].mean() - visible[0][fingers].mean() > 0.4
    assert visible[1][hull > 0.99].mean() > 0.8
