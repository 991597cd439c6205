"""Background strip: a feathered face mask for each aligned crop, and what to do outside it.

The mask is the convex hull of the 68 landmarks in crop coordinates, optionally with the brows
raised to take in the forehead (the iBUG points stop at the brows), then eroded and blurred so
its soft edge lies inside the face rather than on the background. Outside the mask the crop is
kept (``background = "alpha"``: the faceset stores the mask as the PNG's alpha) or blended to a
neutral grey (``"neutral"``) so a model cannot learn the background.

Optional ``mog2``: OpenCV's MOG2 background model over the whole (downscaled) frame marks what
moves; the moving person (hair, ears, neck) is then kept as well and only the static background
is stripped. The per-frame foreground is in ``frame.meta["foreground"]`` (uint8, frame size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from stages.faces.geometry import BROWS, fit_longest_side, transform
from pipeline.stage import Stage, StageContext


@dataclass
class StripConfig:
    """The ``[strip]`` table."""

    forehead: float = option(0.3, "raise the brow points by this fraction of the nose-to-chin length so the mask "
                             "covers the forehead; 0 = landmark hull only", min=0.0, max=1.0)
    feather: float = option(0.04, "width of the mask's soft edge as a fraction of the crop size", min=0.0, max=0.5)
    background: str = option("alpha", "outside the mask: alpha = keep pixels (mask becomes alpha), "
                              "neutral = blend to the neutral grey", choices=("alpha", "neutral"))
    neutral: int = option(128, "grey level of the neutral background", min=0, max=255)
    mog2: bool = option(False, "also keep what moves (MOG2 background subtraction on the whole frame)")
    mog2_history: int = option(300, "frames of history of the MOG2 background model", unit="frames", min=10, max=10000)


def mask_points(landmarks: np.ndarray, forehead: float) -> np.ndarray:
    """The landmark outline, brows raised by ``forehead`` x the length from nose bridge to chin."""
    points = np.asarray(landmarks, np.float64).copy()
    if forehead > 0:
        up = points[27] - points[8]  # chin -> top of the nose bridge
        points = np.vstack([points, points[BROWS] + forehead * up])
    return points


def hull_mask(landmarks_crop: np.ndarray, size: int, forehead: float, feather: float) -> np.ndarray:
    """Feathered float32 mask (size x size, 0..1) of the face in crop coordinates."""
    import cv2
    points = mask_points(landmarks_crop, forehead)
    # Draw with 4 bits of sub-pixel precision so the mask does not jump a pixel at a time.
    hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=4)
    width = feather * size
    if width >= 1:
        radius = max(1, int(round(width / 2)))
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=width / 3)
    return mask.astype(np.float32) / 255.0


class StripStage(Stage):
    """Sets ``face.mask`` on every aligned face and strips the background as configured."""

    name = "strip"
    requires = ("align",)
    Config = StripConfig

    def open(self, context: StageContext) -> None:
        import cv2
        super().open(context)
        self._mog2 = None
        if self.config.mog2:
            self._mog2 = cv2.createBackgroundSubtractorMOG2(history=self.config.mog2_history, detectShadows=True)

    def process(self, batch: list[Frame]) -> list[Frame]:
        cfg: StripConfig = self.config
        for frame in batch:
            foreground = self._foreground(frame) if self._mog2 is not None else None
            for face in frame.faces:
                if face.crop is None or face.matrix is None or face.landmarks is None:
                    continue
                self._strip(face, foreground, cfg)
        return batch

    def _strip(self, face: Face, foreground: np.ndarray | None, cfg: StripConfig) -> None:
        import cv2
        size = face.crop.shape[0]
        mask = hull_mask(transform(face.landmarks, face.matrix), size, cfg.forehead, cfg.feather)
        if foreground is not None:
            moving = cv2.warpAffine(foreground, face.matrix, (size, size), flags=cv2.INTER_LINEAR)
            mask = np.maximum(mask, moving.astype(np.float32) / 255.0)
        face.mask = mask
        if cfg.background == "neutral":
            alpha = mask[..., None]
            blended = face.crop.astype(np.float32) * alpha + float(cfg.neutral) * (1.0 - alpha)
            face.crop = np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def _foreground(self, frame: Frame) -> np.ndarray:
        """MOG2 foreground of the whole frame (shadows dropped, holes closed), frame size, uint8."""
        import cv2
        h, w = frame.image.shape[:2]
        raw = self._mog2.apply(fit_longest_side(frame.image, 320))
        fg = np.where(raw >= 200, 255, 0).astype(np.uint8)  # 127 = shadow
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        fg = cv2.morphologyEx(cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
        fg = cv2.GaussianBlur(cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR), (0, 0), 2.0)
        frame.meta["foreground"] = fg
        return fg
