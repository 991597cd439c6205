"""Turning a validated Config and a stage table into stage objects and their contexts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.device import resolve_device
from pipeline.registry import Registry
from pipeline.stage import Stage, StageContext
from pipeline.videoinfo import VideoInfo

if TYPE_CHECKING:
    import numpy as np


def build_stages(config: Config, table: Registry, names: list[str], video: VideoInfo, warn: Callable[[str], None],
                 reference_embedding: np.ndarray | None = None) -> tuple[list[Stage], list[StageContext]]:
    """Instantiate the named stages of ``table`` with their config tables; contexts are opened by the runner.

    ``reference_embedding``: the person ``swap.select = 'reference'`` picks (see ``StageContext``)."""
    check_requirements(table, names)
    device = resolve_device(config.pipeline.device) if names else "cpu"  # torch only where a GPU may be
    extras = {"threads": config.pipeline.threads}
    stages: list[Stage] = []
    contexts: list[StageContext] = []
    sections = config.names()
    for name in names:
        cls = table.load(name)
        section = config.section(name) if name in sections else None
        stage = cls(section)
        stages.append(stage)
        contexts.append(StageContext(video=video, config=section, device=device, warn=warn, extras=dict(extras),
                                     reference_embedding=reference_embedding))
    return stages, contexts


def check_requirements(table: Registry, names: list[str]) -> None:
    """Refuse a stage list in which a stage comes without (or before) a stage it needs."""
    for position, name in enumerate(names):
        missing = [need for need in table.load(name).requires if need not in names[:position]]
        if missing:
            raise FacepipeError(f"pipeline.stages = {names}: stage {name!r} needs {' and '.join(map(repr, missing))} "
                                f"earlier in the list; it would change nothing")
