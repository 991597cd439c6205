"""What one corpus job carries to its worker: plain dataclasses that pickle to a process or a Dask machine.

A job is planned in the build process (``build.py``) and run in a worker (``render.py``), possibly on
another machine, so the record holds everything the worker needs as plain values (paths as strings,
the validated ``Config``) and nothing the worker would have to look up in the build. The manifest
lines a job carries are the exact JSON lines its record will hold (the manifest's content), so they
stay dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.config import Config


@dataclass(frozen=True)
class FacesJob:
    """Detect, align and cache the faces of one input video (the face cache both methods read)."""

    key: str
    video: str
    faces_dir: str  # the cache folder to fill
    config: Config  # the build's config with the cache's trim and one face per frame
    record: str  # the job's record, written last: its presence means the job finished


@dataclass(frozen=True)
class BranchSpec:
    """One variant a job writes: unperturbed, perturbed or occluded, in every compression."""

    key: str  # file-name safe, for the variant's scratch files
    variant: str  # "" = the unperturbed tree, else its folder (``perturbed/CS_3``, ``occluded/block_3``)
    steps: list[tuple[str, int]]  # perturbation steps (kind, level), applied in order; [] = none
    seed: int
    occlusion: dict[str, Any] | None  # the occlusion's manifest record (kind, level, anchor, seed); None = none
    files: dict[str, str]  # compression -> output video
    mask: str | None  # the blend-mask video (fakes only)

    def paths(self) -> list[str]:
        """Every file this variant writes."""
        return [*self.files.values(), *([self.mask] if self.mask else [])]


@dataclass(frozen=True)
class FakeSpec:
    """What makes a render job a fake: whose face goes onto the target, by which method and model."""

    method: str  # the name in ``METHODS``
    source_faces: str  # the source identity's face cache
    source_identity: str
    model: str | None  # the method's model (its card's), None for a method without one


@dataclass(frozen=True)
class RenderJob:
    """One target video rendered once (a real copy, or a fake) and written to every variant."""

    key: str
    video: str  # the target video
    target_faces: str  # its face cache
    branches: list[BranchSpec]
    lines: list[dict[str, Any]]  # its manifest lines; the render adds frames, fps, size and audio
    record: str  # the job's record, written last
    config: Config
    max_frames: int
    preset: str  # x264 preset of every encoder
    scratch: str  # folder for intermediate files
    fake: FakeSpec | None = None  # None: a real video

    @property
    def kind(self) -> str:
        return "real" if self.fake is None else "fake"

    def files(self) -> list[str]:
        """Every file the job writes (a re-run skips the job only when all are present)."""
        return [path for branch in self.branches for path in branch.paths()]
