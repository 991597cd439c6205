"""What the face stages report after a run, as plain dataclasses.

Kept apart from the stages so the CLI can read a run's summaries (``convert`` warns when no face was
found or none was swapped) without importing numpy, OpenCV or torch: a stage-less convert stays light.
The occlusion stage's summary lives with its counters in ``stages.occlusion.report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.stage import StageSummary


@dataclass
class DetectSummary(StageSummary):
    """Frames seen, how many had a face, and faces in all (``convert`` says when a video had none)."""

    frames: int
    frames_with_faces: int
    faces: int


@dataclass
class SwapSummary(StageSummary):
    """Faces sent through the generator; identity checks only when picking by a reference photo."""

    faces_swapped: int
    identity_checks: int | None = None  # None: not picking by reference, and left out of the JSON

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"faces_swapped": self.faces_swapped}
        if self.identity_checks is not None:
            found["identity_checks"] = self.identity_checks
        return found


@dataclass
class BlendSummary(StageSummary):
    """Faces and frames pasted, and flicker: the output's frame-to-frame change inside the faces over
    the input's (1.0 = as stable as the source; None when no two consecutive frames had a face)."""

    faces_blended: int
    frames_blended: int
    flicker_input: float
    flicker_output: float
    flicker_ratio: float | None
