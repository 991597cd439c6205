"""Rescale aligned crops (and masks) to another square size, keeping the matrices exact.

``align`` already cuts crops at its ``size``; this optional stage is for a pipeline whose model
wants a different size than the faceset was made at (e.g. align at 256 for masks, feed a 128 model).
The frame->crop matrix is scaled too, so pasting back with ``inverse`` stays correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from stages.faces.geometry import invert
from pipeline.stage import Stage


@dataclass
class RescaleConfig:
    """The ``[rescale]`` table."""

    size: int = option(128, "side of the crop after rescaling", unit="px", min=16, max=4096)


def rescale_face(face: Face, size: int) -> None:
    """Resize ``crop``/``mask`` to ``size`` and update ``matrix``/``inverse`` to match."""
    import cv2
    if face.crop is None or face.matrix is None:
        return
    old = face.crop.shape[0]
    if old == size:
        return
    interp = cv2.INTER_AREA if size < old else cv2.INTER_CUBIC
    face.crop = cv2.resize(face.crop, (size, size), interpolation=interp)
    if face.mask is not None:
        face.mask = np.clip(cv2.resize(face.mask, (size, size), interpolation=interp), 0.0, 1.0)
    k = size / old
    # Pixel centres: crop pixel c at the old size is at (c + 0.5) * k - 0.5 at the new size.
    scale = np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5], [0.0, 0.0, 1.0]])
    face.matrix = (scale @ np.vstack([face.matrix, [0.0, 0.0, 1.0]]))[:2]
    face.inverse = invert(face.matrix)


class RescaleStage(Stage):
    """Brings every aligned crop to ``rescale.size``."""

    name = "rescale"
    requires = ("align",)
    Config = RescaleConfig

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            for face in frame.faces:
                rescale_face(face, self.config.size)
        return batch
