"""One video file through the configured stages into one output file: what `convert` and `attack` share.

Opens the source, trims the timing information when ``decode.start``/``decode.max_frames`` ask for a
part, builds the stages, wires the encoder (with the source's audio over the same span), runs it with
a progress bar, and prints the source's warnings (e.g. a truncated file).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.compose import build_stages
from stages import STAGES
from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.io import Sink
from pipeline.videoinfo import VideoInfo
from pipeline.media.preview import KeepOriginal, SideBySideSink
from pipeline.cli.progress import frame_progress, warn
from pipeline.runner import RunStats, Runner
from pipeline.stage import Stage, StageContext
from pipeline.media.decode import FileSource
from pipeline.media.encode import FileSink


def trim_info(info: VideoInfo, start: float, limit: int) -> VideoInfo:
    """The VideoInfo the encoder should see when only part of the source is converted."""
    if not start and not limit:
        return info
    times = info.timestamps or []
    first = next((number for number, t in enumerate(times) if t >= start - 1e-6), len(times))
    kept = times[first:first + limit] if limit else times[first:]
    if times and not kept:
        raise FacepipeError(f"decode.start = {start} is past the end of {info.path} ({info.duration:.2f} s)")
    shifted = [t - kept[0] for t in kept] if kept else None
    count = len(kept) if kept else info.frame_count
    return dataclasses.replace(info, timestamps=shifted, frame_count=count)


def run_video_file(input_path: str, output: Path, config: Config, *, label: str, quiet: bool,
                   extras: dict[str, Any] | None = None, preview: bool = False) -> tuple[RunStats, list[Stage]]:
    """Run ``config.pipeline.stages`` over ``input_path`` into ``output``; returns the stats and the stages."""
    source = FileSource(input_path, config.decode)
    info = source.open()
    if not config.pipeline.stages and not preview and info.width % 2 == 0 and info.height % 2 == 0:
        # nothing looks at pixels: hand the decoder's YUV planes straight to the encoder
        source.pixel_format = "yuv420p"
    start, limit = config.decode.start, config.decode.max_frames
    video = trim_info(info, start, limit)
    stages, contexts = build_stages(config, STAGES, list(config.pipeline.stages), video, warn, extras)
    span = video.timestamps[-1] - video.timestamps[0] + 1.0 / video.fps if (limit and video.timestamps) else 0.0
    sink: Sink = FileSink(output, config.encode, audio_source=input_path, audio_start=start, audio_duration=span,
                          pixel_format=source.pixel_format)
    if preview:
        stages.insert(0, KeepOriginal(None))
        contexts.insert(0, StageContext(video=video, config=None))
        sink = SideBySideSink(sink)
    with frame_progress(f"{label} {Path(input_path).name}", video.frame_count, quiet) as progress:
        runner = Runner(source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                        on_frame=progress.update)
        stats = runner.run()
    for message in source.warnings:
        warn(message)
    return stats, stages
