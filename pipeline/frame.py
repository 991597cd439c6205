"""The data that flows between stages: a Frame and the Faces found on it.

Stages add to these objects (detect fills ``faces``, align fills ``matrix``/``crop``, swap fills
``swapped`` ...). Arrays are plain numpy so that any stage can be written without knowing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the runner core (and a stage-less convert) starts without numpy
    import numpy as np


@dataclass
class OwnPixels:
    """Where a swap shows the target's own pixels, and which: what lets the blend give them the
    frame's own resolution back. The crop is coarser than a face that spans more pixels than it, so
    the target's teeth, stubble and lids came out as soft as the painted face (``retalking_face2``,
    844 px: "teeth a band"), though the frame holds them sharp."""

    weight: np.ndarray  # (size, size) float32 0..1: share of each ``swapped`` pixel that is these pixels
    pixels: np.ndarray  # (size, size, 3) uint8: the target's own pixels as the swap used them, at the crop's resolution
    map_x: np.ndarray | None = None  # (size, size) float32: each pixel came from the crop at (map_x, map_y);
    map_y: np.ndarray | None = None  # None: from where it is (the target's pixels were not moved)


@dataclass
class Face:
    """One face on one frame; fields are filled in by successive stages."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in frame pixels
    score: float = 1.0
    points5: np.ndarray | None = None  # (5, 2) float32 detector key points: eyes, nose tip, mouth corners
    detected: bool = True  # False: carried from an earlier frame by tracking, not found by the detector
    landmarks: np.ndarray | None = None  # (68, 2) float32, iBUG 68-point order, frame pixels (smoothed)
    landmarks_raw: np.ndarray | None = None  # (68, 2) the landmark model's output before smoothing
    track_id: int = -1  # stable id across frames (-1: not tracked)
    matrix: np.ndarray | None = None  # (2, 3) float64: frame -> aligned crop
    inverse: np.ndarray | None = None  # (2, 3) float64: aligned crop -> frame
    crop: np.ndarray | None = None  # aligned crop, BGR uint8 (size x size x 3)
    mask: np.ndarray | None = None  # crop mask, float32 0..1 (size x size)
    swapped: np.ndarray | None = None  # generator output crop, BGR uint8
    swapped_mask: np.ndarray | None = None  # generator mask, float32 0..1
    swapped_own: np.ndarray | None = None  # share of each ``swapped`` pixel that is the target's own, kept as is (0..1)
    swapped_skin: np.ndarray | None = None  # where colour statistics of ``swapped`` are measured (0..1): its skin
    swapped_own_pixels: OwnPixels | None = None  # the target's own pixels in ``swapped``, for the blend's detail
    selected: bool = True  # False: later stages leave this face alone (face choice)
    embedding: np.ndarray | None = None  # (128,) float32 identity embedding, when something computed it
    swapped_resolution: int = 0  # the generator's own resolution (px): detail finer than this is not in ``swapped``
    extras: dict[str, Any] = field(default_factory=dict)  # stage-private scratch; never a contract between stages

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass
class Frame:
    """A decoded video frame; ``image`` is a writable, contiguous BGR uint8 array."""

    index: int  # 0-based position in the source
    pts: float  # presentation time in seconds from the start of the source
    image: np.ndarray
    faces: list[Face] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. "scene_cut": True


def copy_frame(frame: Frame) -> Frame:
    """An independent copy (image, faces, meta) to run an experiment on without touching the original."""
    faces = [replace(face, extras=dict(face.extras)) for face in frame.faces]
    return Frame(frame.index, frame.pts, frame.image.copy(), faces, dict(frame.meta))
