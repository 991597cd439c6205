"""Aligned face crops: a similarity that puts the 68 landmarks onto the mean face.

The fit (Umeyama, least squares, no shear, never mirrored) and the crop convention live in
``stages.faces.geometry`` so that ``extract`` and the swap stage frame faces identically. The matrix
(frame -> crop) and its inverse (crop -> frame, for pasting back) are kept on the face.

The crop is produced directly at ``size`` (the model's input size): ``rescale`` is folded in here.
When a face is much larger in the frame than the crop, the region is first shrunk with area
averaging so that the crop is not aliased (``warpAffine`` alone samples, it does not average).
A separate ``rescale`` stage exists for pipelines that need a second size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from stages.faces.geometry import DEFAULT_COVERAGE, align_matrix, crop_region, invert, similarity_scale
from pipeline.stage import Stage


@dataclass
class AlignConfig:
    """The ``[align]`` table."""

    size: int = option(256, "side of the aligned square crop (the model's input size)", unit="px", min=16, max=4096)
    coverage: float = option(DEFAULT_COVERAGE, "fraction of the crop width spanned by the face's jaw-to-jaw width; "
                             "smaller shows more forehead and background", min=0.3, max=1.0)


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Cut the aligned crop; area-average first when the face is shrunk by more than 1.5x."""
    import cv2
    scale = similarity_scale(matrix)
    if scale >= 1 / 1.5:
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    # The frame region that the crop covers, shrunk towards the crop's resolution.
    x0, y0, x1, y1 = crop_region(invert(matrix), size, image.shape, (2, 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = image[y0:y1, x0:x1]
    shrink = min(1.0, 1.25 * scale)
    small = cv2.resize(region, (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))),
                       interpolation=cv2.INTER_AREA)
    fx, fy = small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)
    # region-small pixel -> frame pixel, then the original matrix
    to_frame = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]], np.float64)
    local = matrix @ to_frame
    return cv2.warpAffine(small, local, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def align_face(image: np.ndarray, face: Face, size: int, coverage: float) -> None:
    """Fill ``matrix``, ``inverse`` and ``crop`` of a face that has landmarks."""
    matrix, inverse = align_matrix(face.landmarks, size, coverage)
    face.matrix, face.inverse = matrix, inverse
    face.crop = warp_face(image, matrix, size)


class AlignStage(Stage):
    """Aligns every face that has landmarks; faces without landmarks are left untouched."""

    name = "align"
    requires = ("landmarks",)
    Config = AlignConfig

    def process(self, batch: list[Frame]) -> list[Frame]:
        cfg: AlignConfig = self.config
        for frame in batch:
            for face in frame.faces:
                if face.landmarks is not None:
                    align_face(frame.image, face, cfg.size, cfg.coverage)
        return batch
