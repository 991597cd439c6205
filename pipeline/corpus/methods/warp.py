"""``warp``: a graphics face swap with no training, in the spirit of FF++'s FaceSwap method.

The source identity's most frontal cached face is the texture. Its 68 landmarks are cut into Delaunay
triangles once; on every target frame each triangle is warped (affine) onto the same triangle of the
target's landmarks, inside the target's aligned crop. Where the triangles cover is the method's mask;
the blend stage then does colour transfer (Reinhard by default), feathering, temporal smoothing and
the paste into the frame. The artefacts differ from the GAN's: sharp but rigid texture, no
expression change of the source, lighting baked in from one frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.corpus.methods import ModelFree
from pipeline.frame import Frame
from pipeline.stage import Stage

if TYPE_CHECKING:
    from pipeline.corpus.job import FakeSpec

# Inner-mouth points (60-67) are left out of the texture: a closed source mouth pasted on an open
# target mouth reads worse than the target's own teeth showing through.
TEXTURE_POINTS = np.arange(0, 60)


def triangles(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (indices into ``points``) of a landmark set."""
    from scipy.spatial import Delaunay

    return Delaunay(points).simplices.astype(np.int32)


def piecewise_affine(texture: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
                     simplices: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``texture`` triangle by triangle from ``source_points`` onto ``target_points``.

    Done as one ``cv2.remap``: the target triangles are rasterised into a map of triangle numbers,
    every pixel takes its triangle's (target -> source) affine map, and the texture is sampled once.
    Returns (image, coverage): a size x size BGR image and a float32 mask of where a triangle landed.
    """
    owner = np.full((size, size), -1, np.int32)
    maps = np.zeros((len(simplices), 2, 3), np.float32)
    for number, tri in enumerate(simplices):
        dst = target_points[tri].astype(np.float32)
        if abs(float(np.cross(dst[1] - dst[0], dst[2] - dst[0]))) < 1e-3:
            continue  # degenerate on this frame
        maps[number] = cv2.getAffineTransform(dst, source_points[tri].astype(np.float32))
        cv2.fillConvexPoly(owner, np.round(dst * 16).astype(np.int32), number, lineType=cv2.LINE_8, shift=4)
    inside = owner >= 0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    chosen = maps[np.maximum(owner, 0)]  # (size, size, 2, 3)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    map_x[~inside] = -1
    map_y[~inside] = -1
    image = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return image, inside.astype(np.float32)


class WarpStage(Stage):
    """Sets ``swapped``/``swapped_mask`` of each aligned target face from the source texture."""

    name = "warp"

    def __init__(self, texture: np.ndarray, points: np.ndarray) -> None:
        super().__init__(None)
        self.texture = texture[..., :3]
        self.points = points[TEXTURE_POINTS]
        self.simplices = triangles(self.points)

    def process(self, batch: list[Frame]) -> list[Frame]:
        from stages.faces.geometry import transform

        for frame in batch:
            for face in frame.faces:
                if face.crop is None or face.matrix is None or face.landmarks is None:
                    continue
                size = face.crop.shape[0]
                scale = size / self.texture.shape[0]
                texture = self.texture if scale == 1 else cv2.resize(self.texture, (size, size), interpolation=cv2.INTER_AREA)
                target = transform(np.asarray(face.landmarks, np.float64), face.matrix)[TEXTURE_POINTS]
                image, cover = piecewise_affine(texture, self.points * scale, target, self.simplices, size)
                face.swapped = np.where(cover[..., None] > 0.5, image, face.crop)
                face.swapped_mask = cover
        return batch


class WarpMethod(ModelFree):
    name = "warp"
    folder = "Warp"

    def stage(self, fake: FakeSpec) -> Stage:
        from pipeline.corpus.faces import best_record, crop_landmarks

        directory = Path(fake.source_faces)
        record = best_record(directory)
        texture = cv2.imread(str(directory / record["file"]), cv2.IMREAD_UNCHANGED)
        return WarpStage(texture, crop_landmarks(record))
