"""The retrieval swap: each target face painted with the best-matching face of a bank of person B.

Why retrieval: it needs no model trained on the target, so any face can be painted with B (the
pair GAN paints a distorted face on people it never saw). Per face: pick the bank face whose
expression and pose match (``bank_match``, held per track and crossfaded), warp it so its landmarks
land on the target's (``bank_warp``), bring its colour to the target's skin, and hand the blend stage
the result with a face mask; the blend stage pastes it with its own seam, colour and occlusion care.

``face.swapped_resolution`` stays 0: the blend stage's detail band then adds nothing. That band
carries the source's fine edges (made for a generator that paints at 128 px); over a warped photo
of another face it draws the source's eyes and lips a second time.
"""

from __future__ import annotations

import numpy as np

from pipeline.frame import Face
from stages.faces.bank import FaceBank
from stages.faces.bank_match import BankMatcher
from stages.faces.bank_warp import face_mask, reinhard, skin_mask, warp_face
from stages.faces.geometry import transform


class BankSwapper:
    """Paints faces from a ``FaceBank``; keeps per-track state, so faces must come in frame order."""

    def __init__(self, bank: FaceBank, stickiness: float = 0.001, crossfade: int = 4) -> None:
        self.bank = bank
        self.matcher = BankMatcher(bank.descriptors, stickiness=stickiness, crossfade=crossfade)

    def paint(self, face: Face, frame_index: int) -> None:
        """Fill ``face.swapped`` and ``face.swapped_mask`` of an aligned face with landmarks."""
        crop = face.crop[..., :3]
        size = crop.shape[0]
        points = transform(face.landmarks, face.matrix)
        pick = self.matcher.pick(points, face.track_id, frame_index)
        painted = self._warp(pick.index, points, size)
        if pick.previous >= 0 and pick.weight < 1.0:
            faded = self._warp(pick.previous, points, size).astype(np.float32)
            painted = np.clip(faded + pick.weight * (painted.astype(np.float32) - faded) + 0.5, 0, 255).astype(np.uint8)
        mask = face_mask(points, size)
        painted = reinhard(painted, crop, skin_mask(points, size))
        alpha = mask[..., None]
        face.swapped = np.clip(painted * alpha + crop * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
        face.swapped_mask = mask
        face.swapped_resolution = 0
        face.extras["bank_pick"] = pick  # for diagnostics: which bank face, and whether it changed

    def _warp(self, index: int, points: np.ndarray, size: int) -> np.ndarray:
        return warp_face(self.bank.crops[index], self.bank.landmarks[index], points, size)
