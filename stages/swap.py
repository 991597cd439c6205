"""The swap stage: aligned crops of consecutive frames through the generator, in batches.

Why batches: the generator runs once for many faces (16 frames by default), which on a CPU is several
times faster per face than one call per frame and on CUDA keeps the GPU busy. The stage also decides
which faces are swapped (all, the largest, or named track ids), so a crowd scene can swap one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame
from pipeline.stage import Stage, StageContext


@dataclass
class SwapConfig:
    """The ``[swap]`` table."""

    model: str = option("", "swap model folder or .safetensors file; empty = the bundled model in models/bundled")
    direction: str = option("a2b", "a2b paints identity B onto faces of A (b2a the reverse; a2a/b2b reconstruct)",
                            choices=("a2b", "b2a", "a2a", "b2b"))
    select: str = option("all", "which faces to swap: all, the largest in each frame, or the track ids in `tracks`",
                         choices=("all", "largest", "tracks"))
    tracks: list[int] = option([], "track ids to swap when select = 'tracks' (ids as `facepipe extract` reports them)")
    batch_frames: int = option(16, "consecutive frames whose faces go through the generator together", unit="frames",
                               min=1, max=512)


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
    name = "swap"
    Config = SwapConfig

    def __init__(self, config: SwapConfig | None) -> None:
        super().__init__(config or SwapConfig())
        self.batch_size = self.config.batch_frames
        self.model: Any = None
        self.faces_swapped = 0

    def open(self, context: StageContext) -> None:
        super().open(context)
        import torch

        from models.checkpoint import BUNDLED_MODEL_DIR, load_model

        threads = int(context.extras.get("threads", 0))
        if threads:
            torch.set_num_threads(threads)  # intra-op threads; other stages run in threads of their own
        self.model = load_model(self.config.model or BUNDLED_MODEL_DIR, context.device)

    def process(self, batch: list[Frame]) -> list[Frame]:
        chosen: list[Face] = []
        for frame in batch:
            choose_faces(frame.faces, self.config.select, self.config.tracks)
            chosen.extend(face for face in frame.faces if face.selected and face.crop is not None)
        if not chosen:
            return batch
        crops = np.stack([face.crop[..., :3] for face in chosen])
        faces, masks = self.model.swap(crops, self.config.direction)
        for face, swapped, mask in zip(chosen, faces, masks):
            face.swapped, face.swapped_mask = swapped, mask
            face.swapped_to = self.config.direction[-1]
            face.swapped_resolution = self.model.resolution
        self.faces_swapped += len(chosen)
        return batch

    def summary(self) -> dict[str, Any]:
        return {"faces_swapped": self.faces_swapped}
