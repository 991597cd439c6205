"""One video file through the configured stages into one output file: what `convert` and `attack` share.

Opens the source, trims the timing information when ``decode.start``/``decode.max_frames`` ask for a
part, builds the stages, wires the encoder (with the source's audio over the same span), runs it with
a progress bar, and prints the source's warnings (e.g. a truncated file).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.videoinfo import VideoInfo
from pipeline.cli.progress import frame_progress, warn
from pipeline.media.decode import FileSource, probe, truncation_warning
from pipeline.media.encode import FileSink
from pipeline.media.kinds import PHOTO_OUTPUTS, is_image
from pipeline.cli.trim import Position, apply_trim

if TYPE_CHECKING:  # imported where frames flow: a stage-less convert never loads numpy (``run_video_file``)
    from pipeline.io import Sink
    from pipeline.runner import RunStats
    from pipeline.stage import Stage


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
                   extras: dict[str, Any] | None = None, preview: bool = False,
                   trim: tuple[Position | None, Position | None] = (None, None)) -> tuple[RunStats, list[Stage]]:
    """Run ``config.pipeline.stages`` over ``input_path`` into ``output``; returns the stats and the stages.

    ``output`` may be a photo (.jpg, .png, .webp): a photo input is converted as a still (EXIF
    orientation and colour profile kept), a video input gives its first frame (the one at ``--start``).
    A run where no stage looks at pixels is one ffmpeg process (:func:`_transcode_directly`).
    """
    stage_names = list(config.pipeline.stages)
    extras = {**(extras or {}), **reference_extras(config, stage_names, quiet)}
    if is_image(input_path) and is_photo_output(output):
        return run_photo_file(input_path, output, config, label=label, quiet=quiet, extras=extras)
    decode = config.decode
    # no stage looks at pixels: one ffmpeg process; a whole file needs no packet scan (its timing is kept)
    direct = not stage_names and not preview and not decode.size and not decode.fps and not is_photo_output(output)
    if direct and trim == (None, None) and not decode.start and not decode.max_frames:
        info = probe(input_path, count_frames=False)
        return _transcode_directly(input_path, output, decode, config, info, info, 0.0, label, quiet), []
    from pipeline.compose import build_stages
    from pipeline.media.preview import KeepOriginal, SideBySideSink
    from pipeline.runner import Runner
    from pipeline.stage import StageContext
    from stages import STAGES

    source = FileSource(input_path, config.decode)
    info = source.open()
    source.config = apply_trim(source.config, info, *trim)
    if is_photo_output(output):
        from pipeline.media.images import PhotoSink

        source.config = dataclasses.replace(source.config, max_frames=1)
        return _run(source, info, PhotoSink(output), config, stage_names, extras, label, quiet, input_path)
    start, limit = source.config.start, source.config.max_frames
    video = trim_info(info, start, limit)
    span = video.timestamps[-1] - video.timestamps[0] + 1.0 / video.fps if (limit and video.timestamps) else 0.0
    if direct:  # a trimmed part: the scan above gave the span and the timestamps to cut at
        return _transcode_directly(input_path, output, source.config, config, video, info, span, label, quiet), []
    stages, contexts = build_stages(config, STAGES, stage_names, video, warn, extras)
    sink: Sink = FileSink(output, config.encode, audio_source=input_path, audio_start=start, audio_duration=span)
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


def _transcode_directly(input_path: str, output: Path, decode: Any, config: Config, video: VideoInfo,
                        info: VideoInfo, span: float, label: str, quiet: bool) -> RunStats:
    """No stage looks at pixels: one ffmpeg decodes and encodes (no pipe, no re-stamping), which is
    as fast as the ffmpeg command line; the output has the same timing, audio, tags and safety."""
    from pipeline.runner import RunStats

    sink = FileSink(output, config.encode, audio_source=input_path, audio_start=decode.start, audio_duration=span)
    stats = RunStats()
    started = time.perf_counter()
    with frame_progress(f"{label} {Path(input_path).name}", video.frame_count, quiet) as progress:
        def on_frames(count: int) -> None:
            stats.frames_out = stats.frames_in = count
            progress.update(stats)

        sink.transcode(input_path, video, max_frames=decode.max_frames, on_frames=on_frames)
    stats.frames_in = stats.frames_out = sink.frames_written
    stats.wall_seconds = time.perf_counter() - started
    if sink.source_damaged and not info.damaged:
        info = dataclasses.replace(info, damaged=sink.source_damaged)
    message = truncation_warning(info, sink.frames_written, whole_file=not decode.start and not decode.max_frames
                                 and info.timestamps is not None)
    if message:
        warn(message)
    return stats


def is_photo_output(output: str | Path) -> bool:
    return Path(output).suffix.lower() in PHOTO_OUTPUTS


def run_photo_file(input_path: str, output: Path, config: Config, *, label: str, quiet: bool,
                   extras: dict[str, Any] | None = None) -> tuple[RunStats, list[Stage]]:
    """One photo through the stages into one photo, upright, with its colour profile."""
    from pipeline.media.images import ImageSource, PhotoSink, read_icc
    from pipeline.media.shape import parse_size

    size = parse_size(config.decode.size) if config.decode.size else None
    source = ImageSource([Path(input_path)], input_path, size=size)
    info = source.open()
    sink = PhotoSink(output, icc_profile=read_icc(input_path))
    return _run(source, info, sink, config, list(config.pipeline.stages), extras or {}, label, quiet, input_path)


def _run(source: Any, info: VideoInfo, sink: Sink, config: Config, stage_names: list[str], extras: dict[str, Any],
         label: str, quiet: bool, input_path: str) -> tuple[RunStats, list[Stage]]:
    from pipeline.compose import build_stages
    from pipeline.runner import Runner
    from stages import STAGES

    stages, contexts = build_stages(config, STAGES, stage_names, info, warn, extras)
    with frame_progress(f"{label} {Path(input_path).name}", 1, quiet) as progress:
        runner = Runner(source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                        on_frame=progress.update)
        stats = runner.run()
    for message in getattr(source, "warnings", []):
        warn(message)
    return stats, stages


def reference_extras(config: Config, stage_names: list[str], quiet: bool) -> dict[str, Any]:
    """The reference person's embedding for ``swap.select = 'reference'`` (computed once per run)."""
    if "swap" not in stage_names or config.section("swap").select != "reference" or not config.section("swap").reference:
        return {}
    from pipeline.cli.reference import reference_embedding

    return {"reference_embedding": reference_embedding(config, config.section("swap").reference)}
