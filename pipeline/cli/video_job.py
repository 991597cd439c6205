"""One video file through the configured stages into one output file: what `convert` and `attack` share.

Opens the source, trims the timing information when ``decode.start``/``decode.max_frames`` ask for a
part, builds the stages, wires the encoder (with the source's audio over the same span), runs it with
a progress bar, and prints the source's warnings (e.g. a truncated file).
"""

from __future__ import annotations

import dataclasses
import time
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
    start, limit = config.decode.start, config.decode.max_frames
    video = trim_info(info, start, limit)
    span = video.timestamps[-1] - video.timestamps[0] + 1.0 / video.fps if (limit and video.timestamps) else 0.0
    if not config.pipeline.stages and not preview:
        return _transcode_directly(input_path, output, config, video, info, span, label, quiet), []
    stages, contexts = build_stages(config, STAGES, list(config.pipeline.stages), video, warn, extras)
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


def _transcode_directly(input_path: str, output: Path, config: Config, video: VideoInfo, info: VideoInfo,
                        span: float, label: str, quiet: bool) -> RunStats:
    """No stage looks at pixels: one ffmpeg decodes and encodes (no pipe, no re-stamping), which is
    as fast as the ffmpeg command line; the output has the same timing, audio, tags and safety."""
    sink = FileSink(output, config.encode, audio_source=input_path, audio_start=config.decode.start,
                    audio_duration=span, pixel_format="yuv420p")
    stats = RunStats()
    started = time.perf_counter()
    with frame_progress(f"{label} {Path(input_path).name}", video.frame_count, quiet) as progress:
        def on_frames(count: int) -> None:
            stats.frames_out = stats.frames_in = count
            progress.update(stats)

        sink.transcode(input_path, video, max_frames=config.decode.max_frames, on_frames=on_frames)
    stats.frames_in = stats.frames_out = sink.frames_written
    stats.wall_seconds = time.perf_counter() - started
    expected = video.frame_count
    if info.damaged or (not config.decode.start and not config.decode.max_frames and expected
                        and sink.frames_written < expected):
        warn(f"{input_path} is truncated or damaged ({info.damaged or 'frames missing'}): converted the "
             f"{sink.frames_written} frames that decode ({sink.frames_written / info.fps:.1f} s of {info.duration:.1f} s)")
    return stats
