"""The retrieval swap: each target face painted with the best-matching face of a bank of person B.

Why retrieval: it needs no model trained on the target, so any face can be painted with B (the
pair GAN paints a distorted face on people it never saw). Per face: pick the bank face whose
expression and pose match (``bank_match``, held per track and crossfaded), warp it so its landmarks
land on the target's (``bank_warp``), bring its colour and its light to the target's skin (one Lab
mean and spread, then a slow shading field measured on both faces' skin), and hand the blend stage
the result with a face mask; the blend stage pastes it with its own seam, colour and occlusion care.

``face.swapped_resolution`` stays 0: the blend stage's detail band then adds nothing. That band
carries the source's fine edges (made for a generator that paints at 128 px); over a warped photo
of another face it draws the source's eyes and lips a second time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import cv2
import numpy as np

from pipeline.frame import Face
from stages.faces.bank import FaceBank
from stages.faces.bank_match import BankMatcher
from stages.faces.bank_warp import (add_grain, apply_colour_and_light, blur_to_match, missing_grain, paint_mask,
                                   reinhard_map, shading_correction, skin_likelihood, skin_mask, warp_face,
                                   without_features)
from stages.faces.geometry import inter_ocular, transform


KEPT_FACES = 32  # bank faces kept ready to warp (256 KB each at 256 px)
MEASURE_EVERY = 4  # frames a track's softness and grain measures are reused for
TRACKS_KEPT = 16  # per-track state is pruned of stale tracks once about this many are held


class BankSwapper:
    """Paints faces from a ``FaceBank``; keeps per-track state, so faces must come in frame order."""

    def __init__(self, bank: FaceBank, stickiness: float = 0.001, crossfade: int = 4, grain: bool = True,
                 shading: float = 0.3) -> None:
        """``shading``: width of the light match's blur in inter-ocular distances (0 = Reinhard only)."""
        self.bank = bank
        self.grain = grain
        self.shading = shading
        self.matcher = BankMatcher(bank.descriptors, stickiness=stickiness, crossfade=crossfade)
        self.sharpness_memory = 0.7  # weight of the past in a track's blur (a blur that jumps is flicker)
        self._blur: dict[int, tuple[int, float]] = {}  # track -> (last frame, its smoothed blur sigma)
        self._measures: dict[tuple[int, str], tuple[int, float]] = {}  # (track, what) -> (frame measured, value)
        self._light: dict[int, tuple[int, np.ndarray]] = {}  # track -> (last frame, its smoothed shading correction)
        self._with_skin: OrderedDict[int, np.ndarray] = OrderedDict()  # bank index -> BGR + skin likelihood, uint8

    def paint(self, face: Face, frame_index: int) -> None:
        """Fill ``face.swapped`` and ``face.swapped_mask`` of an aligned face with landmarks."""
        crop = face.crop[..., :3]
        size = crop.shape[0]
        points = transform(face.landmarks, face.matrix)
        pick = self.matcher.pick(points, face.track_id, frame_index)
        painted = self._warp(pick.index, points, size)
        if pick.previous >= 0 and pick.weight < 1.0:
            faded = self._warp(pick.previous, points, size)
            painted = cv2.addWeighted(painted, pick.weight, faded, 1.0 - pick.weight, 0.0)
        bank_skin = painted[..., 3].astype(np.float32) / 255.0
        inner = skin_mask(points, size, features=True)
        skin = without_features(inner, points)  # the target's inner-face skin: colour and grain are measured here
        mask = paint_mask(points, size, np.minimum(bank_skin, skin_likelihood(crop, points, skin=skin)))
        painted = np.ascontiguousarray(painted[..., :3])
        softness = self._measured(face.track_id, frame_index, "blur", lambda: blur_to_match(painted, crop, inner))
        sigma = self._track_blur(face.track_id, frame_index, softness)
        if sigma > 0.0:
            painted = cv2.GaussianBlur(painted, (0, 0), sigma)
        ratio, offset = reinhard_map(painted, crop, skin)
        correction = None
        if self.shading > 0:
            correction = shading_correction(painted, crop, skin * bank_skin, self.shading * inter_ocular(points),
                                            ratio, offset)
            correction = self._track_light(face.track_id, frame_index, correction)
        painted = apply_colour_and_light(painted, ratio, offset, correction)
        if self.grain:
            missing = self._measured(face.track_id, frame_index, "grain", lambda: missing_grain(painted, crop, skin))
            painted = add_grain(painted, missing, skin, seed=frame_index * 1009 + max(face.track_id, 0))
        face.swapped = cv2.blendLinear(painted, np.ascontiguousarray(crop), mask, 1.0 - mask)
        face.swapped_mask = mask
        face.swapped_resolution = 0
        face.extras["bank_pick"] = pick  # for diagnostics: which bank face, and whether it changed
        self._forget(frame_index)

    def _forget(self, frame_index: int, after: int = 30) -> None:
        """Drop the state of tracks unseen for ``after`` frames (a long live session meets many faces)."""
        if len(self._light) + len(self._blur) + len(self._measures) < 3 * TRACKS_KEPT:
            return
        for table in (self._light, self._blur):
            for track in [t for t, (seen, _) in table.items() if frame_index - seen > after]:
                del table[track]
        for key in [k for k, (seen, _) in self._measures.items() if frame_index - seen > after]:
            del self._measures[key]

    def _measured(self, track: int, frame_index: int, what: str, measure: Callable[[], float]) -> float:
        """``measure()`` for this face, or the value its track measured up to ``MEASURE_EVERY - 1``
        frames ago: a face's softness and grain change with the footage, not from frame to frame (each
        measure is a few blurs of the crop; the blur is smoothed over frames besides)."""
        if track < 0:
            return measure()
        last = self._measures.get((track, what))
        if last is not None and 0 <= frame_index - last[0] < MEASURE_EVERY:
            return last[1]
        value = measure()
        self._measures[(track, what)] = (frame_index, value)
        return value

    def _track_blur(self, track: int, frame_index: int, sigma: float) -> float:
        """``sigma`` smoothed over a track's frames; a new track, or one back after a gap, starts afresh."""
        if track < 0:
            return sigma
        last = self._blur.get(track)
        if last is not None and 0 < frame_index - last[0] <= 2:
            sigma = self.sharpness_memory * last[1] + (1.0 - self.sharpness_memory) * sigma
        self._blur[track] = (frame_index, sigma)
        return sigma

    def _track_light(self, track: int, frame_index: int, correction: np.ndarray) -> np.ndarray:
        """``correction`` smoothed over a track's frames as the blur is: a per-frame field follows the
        landmarks' jitter, and a light that trembles on a still face is flicker."""
        if track < 0:
            return correction
        last = self._light.get(track)
        if last is not None and 0 < frame_index - last[0] <= 2 and last[1].shape == correction.shape:
            correction = self.sharpness_memory * last[1] + (1.0 - self.sharpness_memory) * correction
        self._light[track] = (frame_index, correction)
        return correction

    def _warp(self, index: int, points: np.ndarray, size: int) -> np.ndarray:
        """Bank face ``index`` warped onto ``points``: BGR plus its skin likelihood (0..255) as channel 3."""
        return warp_face(self._bank_face(index), self.bank.landmarks[index], points, size)

    def _bank_face(self, index: int) -> np.ndarray:
        """Bank face ``index`` with its skin likelihood (0..255) as a 4th channel; the last
        ``KEPT_FACES`` used are kept (a track holds its face for many frames)."""
        if index in self._with_skin:
            self._with_skin.move_to_end(index)
            return self._with_skin[index]
        crop = self.bank.crops[index]
        skin = np.round(skin_likelihood(crop, self.bank.landmarks[index]) * 255).astype(np.uint8)
        self._with_skin[index] = np.dstack([crop, skin])
        if len(self._with_skin) > KEPT_FACES:
            self._with_skin.popitem(last=False)
        return self._with_skin[index]
