"""Small, fast checks of the pieces behind the face stages (no video decoding)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.cli.settings import load_config
from pipeline.frame import Face, Frame
from stages.faces.geometry import FLIP_68, MEAN_FACE, align_matrix, invert, template_in_crop, transform, umeyama
from pipeline.videoinfo import VideoInfo
from stages.faces.smoothing import OneEuroFilter
from pipeline.stage import StageContext
from stages.faces.tracking import SceneCutDetector, Tracker


def test_umeyama_recovers_a_similarity_and_never_mirrors() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (30, 2))
    angle, scale = 0.4, 1.7
    truth = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 12.0],
                      [scale * np.sin(angle), scale * np.cos(angle), -7.0]])
    np.testing.assert_allclose(umeyama(src, transform(src, truth)), truth, atol=1e-9)
    mirrored = src * [-1, 1]
    assert np.linalg.det(umeyama(src, mirrored)[:, :2]) > 0


def test_mean_face_is_symmetric_and_aligns_onto_itself() -> None:
    mirrored = MEAN_FACE[FLIP_68] * [-1, 1] + [1, 0]
    np.testing.assert_allclose(mirrored, MEAN_FACE, atol=1e-3)
    matrix, inverse = align_matrix(template_in_crop(256), 256)
    np.testing.assert_allclose(matrix, np.eye(2, 3), atol=1e-9)
    np.testing.assert_allclose(invert(matrix), inverse)


def test_one_euro_removes_jitter_and_follows_steps() -> None:
    rng = np.random.default_rng(0)
    filt = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    still = [filt(np.array([[100.0, 100.0]]) + rng.normal(0, 1.0, (1, 2)), t / 30, 100.0) for t in range(60)]
    jitter = np.abs(np.diff(np.array(still)[30:, 0, 0])).mean()
    assert jitter < 0.3  # raw jitter is ~1.1 px per frame
    moved = [filt(np.array([[160.0, 100.0]]), (60 + t) / 30, 100.0) for t in range(10)]
    assert abs(moved[5][0, 0] - 160.0) < 3.0  # a fast move is followed within a few frames


def test_tracker_keeps_ids_and_gives_new_ones() -> None:
    tracker = Tracker()
    a, b = np.array([0, 0, 50, 50], np.float32), np.array([200, 0, 250, 50], np.float32)
    assert tracker.update([a, b], [None, None], [0.9, 0.9]) == [0, 1]
    assert tracker.update([b + 3, a + 2], [None, None], [0.9, 0.9]) == [1, 0]
    assert tracker.update([a + 4], [None], [0.9]) == [0]
    assert tracker.update([b], [None], [0.9]) == [1]  # survived one missed detection
    tracker.reset()
    assert tracker.update([a], [None], [0.9]) == [2]  # ids are never reused


def test_scene_cut_detector() -> None:
    detector = SceneCutDetector(0.5)
    dark = np.full((90, 160, 3), 30, np.uint8)
    assert not detector(dark) and not detector(dark.copy())
    assert detector(np.full((90, 160, 3), (200, 120, 40), np.uint8))


def _aligned_face() -> tuple[Frame, Face]:
    image = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    landmarks = (MEAN_FACE * 80 + [60, 50]).astype(np.float32)
    face = Face(box=np.array([60, 50, 140, 135], np.float32), landmarks=landmarks, track_id=0)
    frame = Frame(index=0, pts=0.0, image=image, faces=[face])
    from stages.align import align_face

    align_face(image, face, 128, 0.7)
    return frame, face


def _open(stage_cls, config):
    stage = stage_cls(config)
    stage.open(StageContext(video=VideoInfo("m", 200, 200, 25.0, 1, 0.04), config=config))
    return stage


def test_strip_neutral_background_and_mog2() -> None:
    from stages.strip import StripConfig, StripStage

    frame, face = _aligned_face()
    stage = _open(StripStage, StripConfig(background="neutral", neutral=128, mog2=True))
    stage.process([frame])
    assert face.mask.shape == (128, 128) and face.mask.dtype == np.float32
    assert face.mask[64, 64] == pytest.approx(1.0) and face.mask[0, 0] == 0.0
    assert np.all(face.crop[0, 0] == 128)
    assert frame.meta["foreground"].shape == (200, 200)


def test_rescale_keeps_the_matrices_consistent() -> None:
    from stages.rescale import RescaleConfig, RescaleStage

    frame, face = _aligned_face()
    in_crop = transform(face.landmarks, face.matrix)
    _open(RescaleStage, RescaleConfig(size=64)).process([frame])
    assert face.crop.shape == (64, 64, 3)
    np.testing.assert_allclose(transform(face.landmarks, face.matrix), (in_crop + 0.5) * 0.5 - 0.5, atol=1e-6)
    np.testing.assert_allclose(transform(transform(face.landmarks, face.matrix), face.inverse), face.landmarks, atol=1e-4)


def test_face_tables_are_registered_and_validated() -> None:
    from pipeline.errors import FacepipeError

    config = load_config(defaults_file=None, overrides=["detect.every=3", "align.size=128"])
    assert config.detect.every == 3 and config.align.size == 128
    assert config.landmarks.backend == "dlib" and config.strip.background == "alpha"
    with pytest.raises(FacepipeError):
        load_config(defaults_file=None, overrides=["landmarks.backend=sfd"])
    from stages import STAGES

    for name in ("detect", "landmarks", "align", "strip", "rescale"):
        assert STAGES.load(name).name == name
