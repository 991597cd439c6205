"""Turning a validated Config into stage objects and their contexts (the only place stages meet)."""

from __future__ import annotations

from typing import Any, Callable

from pipeline.config import Config
from pipeline.media import VideoInfo
from pipeline.registry import stage_class
from pipeline.stage import Stage, StageContext


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when torch is installed and sees a GPU; never fails on CPU-only machines."""
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - torch missing or broken: CPU
        available = False
    if requested == "cuda" and not available:
        from pipeline.errors import FacepipeError

        raise FacepipeError("pipeline.device = 'cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    return "cuda" if available else "cpu"


def build_stages(config: Config, names: list[str], video: VideoInfo, warn: Callable[[str], None],
                 extras: dict[str, Any] | None = None) -> tuple[list[Stage], list[StageContext]]:
    """Instantiate the named stages with their config tables; contexts are opened by the runner."""
    device = resolve_device(config.pipeline.device) if names else "cpu"  # torch import costs ~1 s
    extras = {"threads": config.pipeline.threads, **(extras or {})}
    stages: list[Stage] = []
    contexts: list[StageContext] = []
    for name in names:
        cls = stage_class(name)
        section = config.section(name) if name in config.as_dict() else None
        stage = cls(section)
        stages.append(stage)
        contexts.append(StageContext(video=video, config=section, device=device, warn=warn, extras=dict(extras)))
    return stages, contexts
