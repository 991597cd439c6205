"""68-point landmarks for every face, smoothed over time per track.

The model is a backend from ``stages.faces.landmarkers.LANDMARKERS`` (dlib by default, FAN offline).
Smoothing lives here (not in align) because it is a property of the landmark signal: a One-Euro
filter per track id (``stages.faces.smoothing``), reset at scene cuts. The raw points are kept in
``face.landmarks_raw``; ``face.landmarks`` holds the smoothed ones that align uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from pipeline.stage import Stage, StageContext
from stages.faces.landmarkers import JITTER_STARTS, LANDMARKERS
from stages.faces.smoothing import OneEuroFilter


@dataclass
class LandmarksConfig:
    """The ``[landmarks]`` table."""

    backend: str = option("dlib", "68-point landmark model: dlib (shipped by face-recognition-models) or fan "
                          "(face-alignment; needs its weights already in $TORCH_HOME/hub/checkpoints)",
                          choices=tuple(LANDMARKERS))
    samples: int = option(1, "dlib: run the predictor from this many nearby starting boxes and average "
                          "(more = steadier before smoothing, slower; 1 + the refit pass gave the same artefact "
                          "measures as 5 on the held-out clips once One-Euro-filtered)", min=1, max=JITTER_STARTS)
    refine: int = option(1, "dlib: passes that restart the predictor from its own eyes and mouth (the detector's "
                         "key points are coarse)", min=0, max=5)
    first_samples: int = option(1, "dlib: starting boxes of the first pass when refining", min=1, max=JITTER_STARTS)
    flip: bool = option(False, "dlib: also run on the mirrored face and average (steadier on turned faces, 2x cost)")
    smooth: bool = option(True, "One-Euro filter the landmarks of each track so a still face's crop does not shake")
    # 0.5, not 1: the bank swap's painted features follow these points, and at 1 Hz their jitter on a
    # still face made it tremble more than the footage (lp_d18 flicker 1.17 -> 1.10; the lag on a
    # moving face is the speed term's business)
    min_cutoff: float = option(0.5, "One-Euro cut-off of a still face; lower = steadier but more lag",
                               unit="Hz", min=0.01, max=100.0)
    beta: float = option(2.0, "One-Euro speed coefficient: how fast smoothing lets go when the face moves "
                         "(per face size per second)", min=0.0, max=1000.0)



class LandmarksStage(Stage):
    """Fills ``face.landmarks`` (smoothed) and ``face.landmarks_raw`` for every face."""

    name = "landmarks"
    requires = ("detect",)
    Config = LandmarksConfig

    def open(self, context: StageContext) -> None:
        super().open(context)
        cfg: LandmarksConfig = self.config
        self._model: Any = LANDMARKERS.load(cfg.backend).from_config(cfg, context.device)
        self._filters: dict[int, tuple[OneEuroFilter, int]] = {}
        fps = context.video.fps if context.video and context.video.fps else 25.0
        self._frame_time = 1.0 / fps

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            if frame.meta.get("scene_cut"):
                self._filters.clear()
            for face in frame.faces:
                raw = self._model(frame.image, face)
                face.landmarks_raw = raw
                face.landmarks = self._smooth(face, raw, frame) if self.config.smooth else raw
            self._forget(frame.index)
        return batch

    def _smooth(self, face: Face, raw: np.ndarray, frame: Frame) -> np.ndarray:
        if face.track_id < 0:
            return raw
        entry = self._filters.get(face.track_id)
        if entry is None:
            entry = (OneEuroFilter(self.config.min_cutoff, self.config.beta), frame.index)
        filt = entry[0]
        self._filters[face.track_id] = (filt, frame.index)
        time = frame.pts if frame.pts is not None and frame.pts >= 0 else frame.index * self._frame_time
        size = float(np.sqrt(max(1.0, face.width * face.height)))
        return filt(raw, time, size).astype(np.float32)

    def _forget(self, index: int, after: int = 30) -> None:
        """Drop filters of tracks unseen for a while; a returning face starts afresh."""
        for track_id in [t for t, (_, seen) in self._filters.items() if index - seen > after]:
            del self._filters[track_id]

