"""What the occlusion stage writes besides frames: the JSONL sidecar and run totals (mask PNGs: ``pipeline.media.masks``).

The sidecar is written to a hidden temporary file beside its path and renamed only when the run
succeeds, so a reader never sees half a file and a failed run leaves no stale sidecar behind.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.media.atomic import AtomicFile
from pipeline.stage import StageSummary


class JsonlSidecar:
    """One JSON object per line, committed atomically (``close(ok=True)``) or discarded."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        parent = self.path.resolve().parent
        if not parent.is_dir():
            raise FacepipeError(f"occlude.report = {str(path)!r}: folder does not exist: {parent}")
        if self.path.is_dir():
            raise FacepipeError(f"occlude.report = {str(path)!r}: is a folder; give a file name")
        self._atomic = AtomicFile(self.path)
        self.temp = self._atomic.temp
        try:
            self._file: TextIO | None = self.temp.open("w", encoding="utf-8")
        except OSError as exc:
            raise FacepipeError(f"occlude.report = {str(path)!r}: cannot write ({exc.strerror})") from None

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self, ok: bool) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        handle.close()
        if ok:
            self._atomic.commit()
        else:
            self._atomic.abort()


@dataclass
class Totals:
    """Per-run counts for the stats JSON and the attack report."""

    frames: int = 0
    faces: int = 0
    occluded: int = 0
    skipped: int = 0
    area: list[float] = field(default_factory=list)
    # attack only
    before: list[float] = field(default_factory=list)
    after: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    already_real: int = 0
    fooled: int = 0
    attack_seconds: float = 0.0

    def summary(self, attack: bool) -> OccludeSummary:
        """The figures of the run; the attack's only in attack mode."""
        figures = None
        if attack:
            attacked = len(self.before) - self.already_real
            fooled = self.fooled - self.already_real
            figures = AttackFigures(
                scored=len(self.before),
                already_real=self.already_real,
                attacked=attacked,
                fooled=fooled,
                success_rate=round(fooled / attacked, 4) if attacked else None,
                mean_fake_before=_mean(self.before),
                mean_fake_after=_mean(self.after),
                queries_total=int(sum(self.queries)),
                queries_mean=_mean([float(q) for q in self.queries]),
                queries_max=int(max(self.queries)) if self.queries else 0,
                ms_per_query=round(1000.0 * self.attack_seconds / sum(self.queries), 3) if self.queries else None)
        return OccludeSummary(self.frames, self.faces, self.occluded, self.skipped, _mean(self.area), figures)


@dataclass
class AttackFigures:
    """What the attack did: faces scored, already judged real, attacked, fooled; scores and queries.

    ``attacked`` and ``fooled`` leave out the faces the classifier already called real."""

    scored: int
    already_real: int
    attacked: int
    fooled: int
    success_rate: float | None
    mean_fake_before: float | None
    mean_fake_after: float | None
    queries_total: int
    queries_mean: float | None
    queries_max: int
    ms_per_query: float | None


@dataclass
class OccludeSummary(StageSummary):
    """The occlusion stage's run summary, for the stats JSON and the attack report (``attack``: attack
    mode's figures, None in random mode; in the JSON they sit beside the counts, not nested)."""

    frames: int
    faces: int
    occluded: int
    skipped: int
    mean_area: float | None  # occluded pixels / face-box pixels, over the faces that were occluded
    attack: AttackFigures | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames": self.frames, "faces": self.faces, "occluded": self.occluded,
                               "skipped": self.skipped, "mean_area": self.mean_area}
        if self.attack is not None:
            out.update(dataclasses.asdict(self.attack))
        return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 6) if values else None
