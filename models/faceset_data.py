"""What training reads of one identity: its crops in memory, split into training and held-out faces.

``models.faceset`` makes one from ``facepipe extract`` folders and ``models.faceset_pack`` from a
pack (and writes one to a pack); both produce this, so training never knows which it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Faceset:
    """Crops of one identity: ``train``/``held`` are (N,R,R,4) uint8 BGRA at the model resolution."""

    train: np.ndarray
    held: np.ndarray
    sources: list[str] = field(default_factory=list)  # faceset directories
    clips: dict[str, int] = field(default_factory=dict)  # video stem -> faces used
    align: dict = field(default_factory=dict)  # the faceset's alignment settings, for the model card
    duplicates: int = 0  # crops dropped as near-copies of a crop of another clip (train.dedupe_psnr)
    gap_faces: int = 0  # faces used neither for training nor held out: the gap, and look-alikes of held-out faces
    split: str = "time"  # how the hold-out was chosen: "time" (block per clip) or "clip" (whole clips)
    train_landmarks: np.ndarray | None = None  # (N,68,2) float32 at the model resolution, NaN where unknown
    held_landmarks: np.ndarray | None = None
    # How these crops were prepared, keyed by the [train] names (holdout, holdout_by, holdout_gap,
    # dedupe_psnr, occlusion_mask; "pack" for a pack's path): a pack keeps it, the model card records it,
    # so a run from a pack says what was applied when it was packed.
    prepared: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, crops in (("train_landmarks", self.train), ("held_landmarks", self.held)):
            if getattr(self, name) is None:
                setattr(self, name, np.full((len(crops), 68, 2), np.nan, np.float32))
