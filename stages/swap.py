"""The swap stage: aligned crops of consecutive frames through the generator, in batches.

Why batches: the generator runs once for many faces (16 frames by default), which on a CPU is several
times faster per face than one call per frame and on CUDA keeps the GPU busy. The stage also decides
which faces are swapped (all, the largest, named track ids, or whoever looks like a reference photo),
so a crowd scene can swap one person.

Picking by reference: the application computes the reference person's dlib embedding (it has the
detector and landmark stages at hand) and hands it over as ``context.reference_embedding``.
The embedding network costs about 0.2 s per face on a CPU, so it runs once per face track and again
every ``RECHECK_FRAMES`` frames of that track (a tracker can drift to another face), not on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.frame import Face, Frame
from pipeline.stage import Stage, StageContext
from stages.summaries import SwapSummary

RECHECK_FRAMES = 25  # frames between two identity checks of the same track


@dataclass
class SwapConfig:
    """The ``[swap]`` table."""

    model: str = option("", "swap model folder or .safetensors file; empty = the bundled 128-px model "
                        "(models/bundled), 'fast' = the bundled 64-px one (models/bundled_fast: faster but softer, "
                        "used by `facepipe live` with blend.detail_band = 0.3)")
    direction: str = option("a2b", "a2b paints identity B onto faces of A (b2a the reverse; a2a/b2b reconstruct)",
                            choices=("a2b", "b2a", "a2a", "b2b"))
    select: str = option("all", "which faces to swap: all, the largest in each frame, the track ids in `tracks`, "
                         "or the faces of the person in `reference`", choices=("all", "largest", "tracks", "reference"))
    tracks: list[int] = option([], "track ids to swap when select = 'tracks' (ids as `facepipe extract` reports them)")
    reference: str = option("", "photo of the person to swap when select = 'reference' (or a folder of photos of "
                            "them; the largest face of each photo is used)")
    reference_distance: float = option(0.6, "faces whose dlib identity embedding lies within this distance of the "
                                       "reference are swapped (0.6 = dlib's same-person threshold; lower is stricter)",
                                       min=0.0, max=2.0)
    batch_frames: int = option(16, "consecutive frames whose faces go through the generator together", unit="frames",
                               min=1, max=512)


def check_selection(config: SwapConfig, reference_embedding: Any) -> None:
    """Refuse a face choice that would swap nothing, before any frame is read."""
    if config.select == "tracks" and not config.tracks:
        raise FacepipeError("swap.select = 'tracks' but swap.tracks is empty: list the track ids to swap "
                            "(e.g. --set 'swap.tracks=[0]'), or choose another swap.select")
    if config.select == "reference" and not config.reference:
        raise FacepipeError("swap.select = 'reference' needs swap.reference = a photo of the person to swap")
    if config.select == "reference" and reference_embedding is None:
        raise FacepipeError("swap.select = 'reference': no reference embedding was computed for "
                            f"{config.reference!r} (this command does not support picking by reference)")


def choose_faces(faces: list[Face], select: str, tracks: list[int]) -> None:
    """Mark the faces to swap (``face.selected``); the others pass through every later stage untouched."""
    if select == "all":
        for face in faces:
            face.selected = True
    elif select == "largest":
        largest = max(faces, key=lambda f: f.width * f.height, default=None)
        for face in faces:
            face.selected = face is largest
    else:
        for face in faces:
            face.selected = face.track_id in tracks


class SwapStage(Stage):
    """Paints the chosen faces with a generator: ``swap.model`` by default, or the model that
    ``open_model`` opens (the corpus GAN's multi-identity model) painting ``target`` (an identity)."""

    name = "swap"
    requires = ("align",)
    Config = SwapConfig

    def __init__(self, config: SwapConfig | None, open_model: Callable[[StageContext], Any] | None = None,
                 target: str | None = None) -> None:
        super().__init__(config or SwapConfig())
        self.batch_size = self.config.batch_frames
        self.open_model = open_model
        self.target = target or self.config.direction
        self.model: Any = None  # a models.painter.FaceSwapper once open
        self.faces_swapped = 0
        self.reference: np.ndarray | None = None
        self._identity: dict[int, tuple[int, float]] = {}  # track id -> (frame checked, distance)
        self.identity_checks = 0

    def open(self, context: StageContext) -> None:
        super().open(context)
        self.reference = context.reference_embedding
        check_selection(self.config, self.reference)
        import torch

        from models.checkpoint import load_model

        threads = int(context.extras.get("threads", 0))
        if threads:
            torch.set_num_threads(threads)  # intra-op threads; other stages run in threads of their own
        self.model = self.open_model(context) if self.open_model else load_model(self.config.model, context.device)

    def process(self, batch: list[Frame]) -> list[Frame]:
        chosen: list[Face] = []
        for frame in batch:
            if self.config.select == "reference":
                self._choose_by_reference(frame)
            else:
                choose_faces(frame.faces, self.config.select, self.config.tracks)
            chosen.extend(face for face in frame.faces if face.selected and face.crop is not None)
        if not chosen:
            return batch
        crops = np.stack([face.crop[..., :3] for face in chosen])
        faces, masks = self.model.swap(crops, self.target)
        for face, swapped, mask in zip(chosen, faces, masks):
            face.swapped, face.swapped_mask = swapped, mask
            face.swapped_resolution = self.model.resolution
        self.faces_swapped += len(chosen)
        return batch

    def _choose_by_reference(self, frame: Frame) -> None:
        from stages.faces.identity import face_embedding, identity_distance

        for face in frame.faces:
            if face.landmarks is None:
                face.selected = False
                continue
            known = self._identity.get(face.track_id) if face.track_id >= 0 else None
            if known is None or frame.index - known[0] >= RECHECK_FRAMES or frame.index < known[0]:
                distance = identity_distance(face_embedding(frame.image, face.landmarks), self.reference)
                self.identity_checks += 1
                known = (frame.index, distance)
                if face.track_id >= 0:
                    self._identity[face.track_id] = known
            face.selected = known[1] <= self.config.reference_distance

    def summary(self) -> SwapSummary:
        checks = self.identity_checks if self.config.select == "reference" else None
        return SwapSummary(self.faces_swapped, checks)
