"""A clip through the configured stages into memory, every frame keeping its input (``meta['original']``).

Why: quality measures compare output and input pixel by pixel, which an encoded file would blur (x264
changes pixels by several levels). The same Runner and stages as ``convert`` are used, only the sink
differs, so what is measured is what ``convert`` does before encoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.compose import build_stages
from pipeline.config import Config
from pipeline.frame import Frame
from pipeline.media.decode import FileSource
from pipeline.media.preview import KeepOriginal
from pipeline.runner import Runner
from pipeline.stage import StageContext
from pipeline.videoinfo import VideoInfo
from stages import STAGES


class ListSink:
    """Keeps every processed frame."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self, ok: bool) -> None:
        pass


def run_in_memory(path: str | Path, config: Config, stages: list[str] | None = None) -> tuple[list[Frame], dict[str, Any]]:
    """Processed frames (``meta['original']`` = the decoded input) and each stage's summary by name."""
    source = FileSource(str(path), config.decode)
    info = source.open()
    names = list(config.pipeline.stages if stages is None else stages)
    built, contexts = build_stages(config, STAGES, names, info, lambda message: None)
    built.insert(0, KeepOriginal(None))
    contexts.insert(0, StageContext(video=info, config=None))
    sink = ListSink()
    Runner(source, built, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts).run()
    return sink.frames, {stage.name: stage.summary() for stage in built}
