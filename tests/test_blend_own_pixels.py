"""The blend's colour transfer recolours the painted face, not the target's own pixels inside it."""

from __future__ import annotations

import numpy as np

from pipeline.frame import Face, Frame
from pipeline.stage import StageContext
from pipeline.videoinfo import VideoInfo
from stages.blend import BlendConfig, BlendStage

SIZE = 96


def blend_one(original: np.ndarray, swapped: np.ndarray, **face: np.ndarray | None) -> np.ndarray:
    """The output frame of the blend stage (no occlusion, erosion, feather, detail or smoothing) on
    ``original`` whose one face, filling the frame, was swapped to ``swapped``; ``face``: further
    ``Face`` fields (``swapped_own``, ``swapped_skin``)."""
    size = original.shape[0]
    info = VideoInfo(path="memory", width=size, height=size, fps=25.0, frame_count=1, duration=0.04)
    one = Face(box=np.array([0, 0, size, size], np.float32), matrix=np.eye(2, 3), inverse=np.eye(2, 3),
               crop=original.copy(), swapped=swapped, swapped_mask=np.ones((size, size), np.float32), **face)
    stage = BlendStage(BlendConfig(occlusion="none", erosion=0.0, feather=0.0, detail=0.0, temporal=0.0))
    stage.open(StageContext(video=info, config=stage.config))
    frame = Frame(0, 0.0, original.copy(), [one])
    stage.process([frame])
    return frame.image


def blended(own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(output frame, swapped crop): a warm face whose swap came out cold, with a dark-red "mouth"
    in its middle that is the target's own pixels (``own`` says where, or None: nothing said)."""
    rng = np.random.default_rng(3)
    original = np.clip(rng.normal((110, 140, 200), 6, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    swapped = np.clip(original.astype(np.int16) + (45, 10, -50), 0, 255).astype(np.uint8)  # bluer: RCT pulls it back
    swapped[40:56, 30:66] = original[40:56, 30:66] = (8, 6, 60)  # the target's own dark mouth
    return blend_one(original, swapped, swapped_own=own), swapped


def test_the_targets_own_pixels_keep_their_colour_and_the_paint_is_matched() -> None:
    own = np.zeros((SIZE, SIZE), np.float32)
    own[40:56, 30:66] = 1.0
    output, swapped = blended(own)
    mouth, skin = (slice(42, 54), slice(32, 64)), (slice(5, 30), slice(5, 90))
    assert np.abs(output[mouth].astype(int) - swapped[mouth]).max() <= 1  # untouched by the transfer
    moved = np.abs(output[skin].astype(int).mean(axis=(0, 1)) - swapped[skin].mean(axis=(0, 1))).max()
    assert moved > 15  # the painted skin is still matched to the target's colour


def test_without_the_share_the_transfer_recolours_the_mouth_too() -> None:
    """What ``swapped_own`` prevents: the map fitted to the painted face moved the dark mouth."""
    output, swapped = blended(None)
    mouth = (slice(42, 54), slice(32, 64))
    assert np.abs(output[mouth].astype(int) - swapped[mouth]).max() > 10
