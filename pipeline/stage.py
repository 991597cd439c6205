"""The stage contract: ``open(context)``, ``process(batch) -> batch``, ``close()``.

A stage is configured by a dataclass (its ``Config``) read from its table in ``pipeline.toml``.
``batch_size`` says how many consecutive frames it wants per call (a generator wants many, a
detector one); the runner groups frames accordingly and keeps their order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo

if TYPE_CHECKING:
    import numpy as np


@dataclass
class StageContext:
    """What a stage may know about the run when it opens."""

    video: VideoInfo  # the source being processed
    config: Any  # this stage's validated config dataclass
    device: str = "cpu"  # "cuda" when torch sees a GPU and the config allows it
    warn: Callable[[str], None] = print  # user-visible warning, one line
    extras: dict[str, Any] = field(default_factory=dict)  # run-wide values (paths, seeds, ...)
    # the person to swap when ``swap.select = 'reference'``: their identity embedding, computed once per
    # run by the application (it has the detector and landmark stages at hand); None otherwise
    reference_embedding: np.ndarray | None = None


@dataclass
class StageSummary:
    """What one stage reports after a run (faces found, flicker, ...); subclasses add the fields.

    A dataclass so callers read attributes; :meth:`as_dict` is its part of the ``--stats`` JSON, so a
    subclass whose JSON is not simply its fields (a part that exists only in one mode) overrides it."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Stage:
    """Base class for a frame stage. Subclasses set ``name`` and ``Config``."""

    name: ClassVar[str] = "stage"
    Config: ClassVar[type] = type(None)
    # Stages that must run earlier in the same list (e.g. swap needs align's crops); checked when
    # stages are composed, so a list that skips one fails in one line instead of doing nothing.
    requires: ClassVar[tuple[str, ...]] = ()
    batch_size: int = 1

    def __init__(self, config: Any) -> None:
        self.config = config
        self.context: StageContext | None = None

    def open(self, context: StageContext) -> None:
        """Load models, allocate state. Called once before the first ``process``."""
        self.context = context

    def process(self, batch: list[Frame]) -> list[Frame]:  # pragma: no cover - abstract
        """Transform a batch of consecutive frames; return them in the same order."""
        raise NotImplementedError

    def close(self, ok: bool) -> None:
        """Release resources; called once, also after an error. ``ok`` says whether the run succeeded,
        so a stage that writes files commits them (True) or discards them (False)."""

    def summary(self) -> StageSummary | None:
        """Counts and measures for the run's stats JSON; None when the stage has nothing to report."""
        return None
