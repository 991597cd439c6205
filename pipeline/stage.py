"""The stage contract: ``open(context)``, ``process(batch) -> batch``, ``close()``.

A stage is configured by a dataclass (its ``Config``) read from its table in ``pipeline.toml``.
``batch_size`` says how many consecutive frames it wants per call (a generator wants many, a
detector one); the runner groups frames accordingly and keeps their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo


@dataclass
class StageContext:
    """What a stage may know about the run when it opens."""

    video: VideoInfo  # the source being processed
    config: Any  # this stage's validated config dataclass
    device: str = "cpu"  # "cuda" when torch sees a GPU and the config allows it
    warn: Callable[[str], None] = print  # user-visible warning, one line
    extras: dict[str, Any] = field(default_factory=dict)  # run-wide values (paths, seeds, ...)


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

    def summary(self) -> dict[str, Any]:
        """Counts and measures for the run's stats JSON (faces found, flicker, ...)."""
        return {}
