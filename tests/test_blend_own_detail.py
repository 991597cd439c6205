"""The blend gives the target's own pixels in a swap (``Face.swapped_own_pixels``) the frame's
resolution back when the face is bigger than the crop, and gives B's paint none of the frame's detail."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.frame import Face, Frame, OwnPixels
from pipeline.stage import StageContext
from pipeline.videoinfo import VideoInfo
from stages.blend import BlendConfig, BlendStage

FRAME = 192
CROP = 96  # the crop holds the frame at half its resolution: a face twice the crop's size
FLAT = 128


def textured_frame() -> np.ndarray:
    """Fine texture (stubble, teeth edges): most of it finer than the crop can hold."""
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 40, (FRAME, FRAME, 1)).astype(np.float32)
    return np.clip(FLAT + noise + np.zeros((1, 1, 3), np.float32), 0, 255).astype(np.uint8)


def blend(original: np.ndarray, swapped: np.ndarray, own: OwnPixels | None) -> np.ndarray:
    """The blend stage's output frame for one face filling ``original`` at half scale (no colour
    transfer, occlusion, erosion, feather or smoothing)."""
    matrix = np.array([[0.5, 0, 0], [0, 0.5, 0]], np.float64)
    face = Face(box=np.array([0, 0, FRAME, FRAME], np.float32), matrix=matrix,
                inverse=cv2.invertAffineTransform(matrix), crop=cv2.warpAffine(original, matrix, (CROP, CROP)),
                swapped=swapped, swapped_mask=np.ones((CROP, CROP), np.float32), swapped_own_pixels=own)
    info = VideoInfo(path="memory", width=FRAME, height=FRAME, fps=25.0, frame_count=1, duration=0.04)
    stage = BlendStage(BlendConfig(occlusion="none", erosion=0.0, feather=0.0, detail=0.0, temporal=0.0, color="none"))
    stage.open(StageContext(video=info, config=stage.config))
    frame = Frame(0, 0.0, original.copy(), [face])
    stage.process([frame])
    return frame.image


def own_on_the_left(crop: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, OwnPixels]:
    """(swapped crop, its own pixels): the target's own pixels (``crop`` resampled by ``maps``, or as
    it is) on the left half, B's flat paint on the right."""
    pixels = crop if maps is None else cv2.remap(crop, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    weight = np.zeros((CROP, CROP), np.float32)
    weight[:, : CROP // 2] = 1.0
    swapped = np.full_like(crop, FLAT)
    swapped[:, : CROP // 2] = pixels[:, : CROP // 2]
    return swapped, OwnPixels(weight, pixels, *(maps if maps is not None else (None, None)))


LEFT = (slice(8, FRAME - 8), slice(8, FRAME // 2 - 8))
RIGHT = (slice(8, FRAME - 8), slice(FRAME // 2 + 8, FRAME - 8))


def error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_the_targets_own_pixels_come_back_at_the_frames_resolution() -> None:
    original = textured_frame()
    crop = cv2.warpAffine(original, np.array([[0.5, 0, 0], [0, 0.5, 0]]), (CROP, CROP))
    swapped, own = own_on_the_left(crop, None)
    soft, sharp = blend(original, swapped, None), blend(original, swapped, own)
    assert error(soft[LEFT], original[LEFT]) > 15  # through the crop the texture is lost
    assert error(sharp[LEFT], original[LEFT]) < 2  # given back: the frame's own pixels
    assert error(sharp[RIGHT], soft[RIGHT]) < 0.5 and sharp[RIGHT].std() < 1  # B's paint gets none of it


def test_moved_pixels_bring_their_detail_from_where_they_came() -> None:
    """The swap moved the target's pixels (B's proportions): 4 crop px, 8 frame px to the left."""
    original = textured_frame()
    crop = cv2.warpAffine(original, np.array([[0.5, 0, 0], [0, 0.5, 0]]), (CROP, CROP))
    ys, xs = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
    swapped, own = own_on_the_left(crop, (xs + 4.0, ys))
    output = blend(original, swapped, own)
    moved = np.roll(original, -8, axis=1)
    assert error(output[LEFT], moved[LEFT]) < 2
    assert error(output[LEFT], original[LEFT]) > 30  # not the unmoved frame: a second outline would show
