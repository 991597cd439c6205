"""The artefact measures turn red on the artefact they name and stay green on the real clip.

A real clip compared with itself (and with an x264 copy: codec noise is no artefact) must be
green on every measure; a copy damaged in one way, the way the pipeline's faults look, must turn that
measure red. Frames: the first 32 of people/lp_d19_man_glasses_white_sweater.mp4 (the mouth opens and
the eyes narrow in them, so both openness series move). The source is fitted once; each damaged copy
costs one re-fit of its 32 frames.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np
import pytest

from stages.faces import artefacts
from stages.faces.artefacts import ArtefactReport, FacePair, Measure
from tests.conftest import media, read_frames

CLIP = "people/lp_d19_man_glasses_white_sweater.mp4"
FRAMES = 32

Damage = Callable[[list[np.ndarray], list[FacePair]], list[np.ndarray]]


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[FacePair]]:
    frames = read_frames(media(CLIP), FRAMES)
    pairs = artefacts.fit_pairs(frames, frames)
    assert len(pairs) == FRAMES, "the test clip shows one face on every frame"
    return frames, pairs


def _measure(damaged: list[np.ndarray], clip: tuple[list[np.ndarray], list[FacePair]]) -> ArtefactReport:
    frames, pairs = clip
    return artefacts.measure_clip(damaged, frames, pairs=artefacts.refit(damaged, pairs))


def _paste(frame: np.ndarray, altered: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``altered`` composited into ``frame`` inside the painted face with a feathered edge, as the blend does."""
    scale = artefacts.inter_ocular(landmarks)
    mask = artefacts.painted_region(frame.shape, landmarks, 0.15).astype(np.float32)
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.05 * scale)[..., None]
    return np.clip(alpha * altered.astype(np.float32) + (1 - alpha) * frame, 0, 255).astype(np.uint8)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


def face_moved(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """The painted face 0.12 inter-ocular lower than the source's: eyes, nose and mouth out of place."""
    return [_paste(f, _shift(f, 0, 0.12 * p.scale), p.source) for f, p in zip(frames, pairs)]


def ghosted(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """What the blend's detail band does over a face painted 0.05 inter-ocular off: a soft face in the
    wrong place plus the source's fine band in the right place (``stages.blend.add_detail``)."""
    out = []
    for f, p in zip(frames, pairs):
        sigma = 0.012 * p.scale  # the blend's detail band at the 128-px model, in frame pixels
        f32 = f.astype(np.float32)
        painted = cv2.GaussianBlur(_shift(f, 0.05 * p.scale, 0.05 * p.scale).astype(np.float32), (0, 0), sigma)
        out.append(_paste(f, painted + (f32 - cv2.GaussianBlur(f32, (0, 0), sigma)), p.source))
    return out


def colour_patch(frames: list[np.ndarray], pairs: list[FacePair], shift: tuple[float, float, float] = (6, 5, 0),
                 whole: bool = False) -> list[np.ndarray]:
    """The face (or, with ``whole``, the whole frame) shifted by ``shift`` in L*, a*, b*."""
    out = []
    for f, p in zip(frames, pairs):
        lab = cv2.cvtColor(f.astype(np.float32) / 255, cv2.COLOR_BGR2LAB) + np.float32(shift)
        moved = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR) * 255 + 0.5, 0, 255).astype(np.uint8)
        out.append(moved if whole else _paste(f, moved, p.source))
    return out


def dark_eyes(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """Eyes and lids smudged dark: the eye outlines grown 0.06 inter-ocular, at 45 % brightness."""
    out = []
    for f, p in zip(frames, pairs):
        mask = artefacts.eye_region(f.shape, p.source, 0.06).astype(np.float32)
        alpha = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None]
        out.append((f * (1 - 0.55 * alpha)).astype(np.uint8))
    return out


def _transplant(frames: list[np.ndarray], pairs: list[FacePair], order: list[int], points: slice,
                grow: float) -> list[np.ndarray]:
    """Frame t's ``points`` region replaced by frame ``order[t]``'s, moved to where the feature is on t."""
    out = []
    for f, p, k in zip(frames, pairs, order):
        dx, dy = p.source[points].mean(axis=0) - pairs[k].source[points].mean(axis=0)
        mask = np.zeros(f.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(p.source[points]).astype(np.int32)), 1)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=max(1, int(grow * p.scale)))
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)[..., None]
        out.append((alpha * _shift(frames[k], dx, dy) + (1 - alpha) * f).astype(np.uint8))
    return out


def _half_later(count: int) -> list[int]:
    return [(t + count // 2) % count for t in range(count)]


def mouth_out_of_step(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """Each frame's mouth from half the clip later: shut while the source speaks, and the reverse.

    (A mouth frozen shut is no good test here: dlib reads an open mouth from the dropped chin as well,
    so a re-fit over a frozen mouth still opens with the source at a fraction of the amplitude, r about
    0.7. The swap's mouth sits above the source's own chin just the same.)
    """
    return _transplant(frames, pairs, _half_later(len(frames)), slice(48, 68), 0.12)


def eyes_out_of_step(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """Each frame's eyes from half the clip later: open while the source squints, and the reverse.

    (Frozen eyes, likewise: dlib reads a squint from the cheeks and brows, r about 0.8.)
    """
    order = _half_later(len(frames))
    out = _transplant(frames, pairs, order, slice(36, 42), 0.08)
    return _transplant(out, pairs, order, slice(42, 48), 0.08)


def looking_aside(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """Each open eye's iris moved a fifth of the eye's width towards the nearer corner's far side:
    eyes that look elsewhere than the source's (a bank face's gaze)."""
    from stages.faces.bank_eyes import EYES
    from stages.faces.gaze import read_iris, turned_to

    out = []
    for f, p in zip(frames, pairs):
        for eye in EYES:
            reading = read_iris(f, p.source, eye)
            if reading is not None:
                f = turned_to(f, p.source, eye, reading.along, reading.along + (0.2 if reading.along < 0.5 else -0.2))
        out.append(f)
    return out


def flickering(frames: list[np.ndarray], pairs: list[FacePair]) -> list[np.ndarray]:
    """The face 7 grey levels brighter on every other frame."""
    return [_paste(f, np.clip(f.astype(np.int16) + 7 * (i % 2), 0, 255).astype(np.uint8), p.source)
            for i, (f, p) in enumerate(zip(frames, pairs))]




def test_the_clip_against_itself_is_green_on_every_measure(clip: tuple[list, list]) -> None:
    frames, pairs = clip
    report = artefacts.measure_clip(frames, frames, pairs=pairs)
    assert report.faces == FRAMES
    for measure in report.measures():
        assert measure.passed is True, measure.describe()  # measured (not n/a) and green
    assert report.nme.value == 0 and report.double_edges.value == 0 and report.flicker.value == 1
    assert report.passed


def test_codec_noise_is_green_on_every_measure(clip: tuple[list, list]) -> None:
    """The clip through x264 at the default crf 18 (``artefacts.reencoded``): noise, no artefact."""
    report = _measure(artefacts.reencoded(clip[0], crf=18), clip)
    red = [m.describe() for m in report.measures() if m.passed is not True]
    assert not red, red
    assert report.nme.value > 0  # a real re-fit, not the same pixels


@pytest.mark.parametrize(("damage", "name"), [
    (face_moved, "nme"),
    (ghosted, "double_edges"),
    (colour_patch, "seam"),
    (dark_eyes, "eye_tone"),
    (mouth_out_of_step, "mouth_r"),
    (mouth_out_of_step, "mouth_gap"),
    (eyes_out_of_step, "eye_r"),
    (flickering, "flicker"),
    (looking_aside, "gaze"),
])
def test_each_damage_turns_its_measure_red(clip: tuple[list, list], damage: Damage, name: str) -> None:
    report = _measure(damage(*clip), clip)
    measure = getattr(report, name)
    assert measure.passed is False, measure.describe()
    assert not report.passed


def test_a_blurred_face_is_no_double_edge(clip: tuple[list, list]) -> None:
    """A soft face loses the source's edges but keeps their shape: that is no ghost."""
    frames, pairs = clip
    soft = [_paste(f, cv2.GaussianBlur(f, (0, 0), 2.0), p.source) for f, p in zip(frames, pairs)]
    report = _measure(soft, clip)
    assert report.double_edges.passed is True, report.double_edges.describe()


def test_a_colour_change_of_the_whole_frame_is_no_seam(clip: tuple[list, list]) -> None:
    """The same shift as the damaged patch, over the whole frame: face and neck still match, and the
    eyes keep their tone against the skin."""
    frames, pairs = clip
    patch = _measure(colour_patch(frames, pairs), clip)
    whole = _measure(colour_patch(frames, pairs, whole=True), clip)
    assert whole.seam.passed is True and patch.seam.passed is False, (whole.seam.describe(), patch.seam.describe())
    assert whole.eye_tone.passed is True, whole.eye_tone.describe()


def test_measure_verdicts() -> None:
    assert Measure("x", 0.05, 0.06, True).passed is True
    assert Measure("x", 0.07, 0.06, True).passed is False
    assert Measure("x", 0.5, 0.6, False).passed is False
    assert Measure("x", float("nan"), 0.6, False).passed is None
    assert Measure("x", float("nan"), 0.6, False).verdict == "n/a"


def test_a_still_source_leaves_the_correlation_undefined() -> None:
    """r of two noise series says nothing: a source that does not move gives n/a, not a verdict."""
    moving = list(np.repeat([0.0, 0.1, 0.2, 0.1], 3)) * 3  # 36 frames, opening and shutting
    still = artefacts._correlation("mouth_r", [0.01, 0.011, 0.012] * 12, moving, 0.7, 0.02)
    assert math.isnan(still.value) and still.passed is None
    short = artefacts._correlation("mouth_r", moving[:12], moving[:12], 0.7, 0.02)
    assert short.passed is None
    frozen = artefacts._correlation("mouth_r", moving, [0.05] * len(moving), 0.7, 0.02)
    assert frozen.value == 0.0 and frozen.passed is False
    follows = artefacts._correlation("mouth_r", moving, [0.5 * v + 0.01 for v in moving], 0.7, 0.02)
    assert follows.value > 0.99 and follows.passed is True


def test_clips_of_different_lengths_are_refused() -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="frames"):
        artefacts.measure_clip([frame], [frame, frame], pairs=[])
