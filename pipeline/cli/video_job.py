"""One video file through the configured stages into one output file: what `convert` and `attack` share.

:func:`run_video_file` decides once which of three runs it is: a photo read as a still, a video with
no stage that looks at pixels (one ffmpeg process, :func:`transcode`), or a video decoded frame by
frame (into a video, or into a photo of its first frame). The two decoded kinds differ only in how
their source and sink are opened (:class:`Opened`); building the stages, the progress bar and the
runner is one block (:func:`run_stages`). Trimming sets the timing the encoder sees and the span of
the source's audio that goes with the frames used.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Config
from pipeline.errors import FacepipeError
from pipeline.videoinfo import VideoInfo
from pipeline.cli.progress import frame_progress, warn
from pipeline.media.decode import FileSource, probe, truncation_warning
from pipeline.media.encode import FileSink, check_file_destination
from pipeline.media.kinds import PHOTO_OUTPUTS, is_image
from pipeline.cli.trim import Position, apply_trim
from pipeline.io import NullSink

if TYPE_CHECKING:  # imported where frames flow: a stage-less convert never loads numpy (``run_video_file``)
    import numpy as np

    from pipeline.frame import Frame
    from pipeline.io import Sink, Source
    from pipeline.media.decode import DecodeConfig
    from pipeline.media.encode import EncodeConfig
    from pipeline.runner import RunStats
    from pipeline.stage import Stage

Trim = tuple[Position | None, Position | None]


@dataclass
class Opened:
    """A source opened for one output, and what the stages and the progress bar need to know of it."""

    source: Source
    video: VideoInfo  # what the stages see
    sink: Sink
    frames: int  # the progress bar's total
    preview: bool = False  # input | output side by side


def run_video_file(input_path: str, output: Path, config: Config, *, label: str, quiet: bool, preview: bool = False,
                   trim: Trim = (None, None)) -> tuple[RunStats, list[Stage]]:
    """Run ``config.pipeline.stages`` over ``input_path`` into ``output``; returns the stats and the stages.

    ``output`` may be a photo (.jpg, .png, .webp): a photo input is converted as a still (EXIF
    orientation and colour profile kept), a video input gives its first frame (the one at ``--start``).
    A run where no stage looks at pixels is one ffmpeg process (:func:`transcode`).
    """
    stage_names = list(config.pipeline.stages)
    title = f"{label} {Path(input_path).name}"
    reference = reference_embedding_for(config, stage_names)
    if is_image(input_path) and is_photo_output(output):
        opened = open_photo(input_path, output, config.decode)
    elif passes_through(config, output, preview):
        return transcode(input_path, output, config.decode, config.encode, trim, title, quiet), []
    else:
        opened = open_video(input_path, output, config.decode, config.encode, trim, preview)
    return run_stages(opened, config, stage_names, reference, title, quiet)


def passes_through(config: Config, output: Path, preview: bool) -> bool:
    """No stage looks at pixels and nothing reshapes them: ffmpeg alone can make the output."""
    decode = config.decode
    return (not config.pipeline.stages and not preview and not decode.size and not decode.fps
            and not is_photo_output(output))


def open_photo(input_path: str, output: Path, decode: DecodeConfig) -> Opened:
    """One photo into one photo, upright, with its colour profile."""
    from pipeline.media.images import ImageSource, PhotoSink, read_icc
    from pipeline.media.shape import parse_size

    size = parse_size(decode.size) if decode.size else None
    source = ImageSource([Path(input_path)], input_path, size=size)
    info = source.open()
    return Opened(source, info, PhotoSink(output, icc_profile=read_icc(input_path)), 1)


def open_video(input_path: str, output: Path, decode: DecodeConfig, encode: EncodeConfig, trim: Trim,
               preview: bool) -> Opened:
    """A video decoded frame by frame: into a video with the audio of the same span, or into a photo of
    its first frame (the one at ``--start``)."""
    source = FileSource(input_path, decode)
    info = source.open()
    source.config = apply_trim(source.config, info, *trim)
    if is_photo_output(output):
        from pipeline.media.images import PhotoSink

        source.config = dataclasses.replace(source.config, max_frames=1)
        return Opened(source, info, PhotoSink(output), 1)
    video, span = trimmed(info, source.config)
    sink = FileSink(output, encode, audio_source=input_path, audio_start=source.config.start, audio_duration=span)
    return Opened(source, video, sink, video.frame_count, preview)


def run_stages(opened: Opened, config: Config, stage_names: list[str], reference: np.ndarray | None, title: str,
               quiet: bool) -> tuple[RunStats, list[Stage]]:
    """Build the stages for ``opened.video``, run every frame through them with a progress bar, and
    print the source's warnings (e.g. a truncated file)."""
    from pipeline.compose import build_stages
    from pipeline.runner import Runner
    from stages import STAGES

    stages, contexts = build_stages(config, STAGES, stage_names, opened.video, warn, reference)
    sink = opened.sink
    if opened.preview:
        from pipeline.media.preview import KeepOriginal, SideBySideSink
        from pipeline.stage import StageContext

        stages.insert(0, KeepOriginal(None))
        contexts.insert(0, StageContext(video=opened.video, config=None))
        sink = SideBySideSink(sink)
    with frame_progress(title, opened.frames, quiet) as progress:
        runner = Runner(opened.source, stages, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts,
                        on_frame=progress.update)
        stats = runner.run()
    for message in getattr(opened.source, "warnings", []):
        warn(message)
    return stats, stages


def transcode(input_path: str, output: Path, decode: DecodeConfig, encode: EncodeConfig, trim: Trim, title: str,
              quiet: bool) -> RunStats:
    """No stage looks at pixels: one ffmpeg decodes and encodes (no pipe, no re-stamping), which is
    as fast as the ffmpeg command line; the output has the same timing, audio, tags and safety.

    A whole file needs no packet scan (its timing is kept as it is); a part needs the scan for the
    timestamps to cut at and the span of audio that goes with them."""
    from pipeline.runner import RunStats

    if trim == (None, None) and not decode.start and not decode.max_frames:
        info = probe(input_path, count_frames=False)
        video, span = info, 0.0
    else:
        info = FileSource(input_path, decode).open()
        decode = apply_trim(decode, info, *trim)
        video, span = trimmed(info, decode)
    sink = FileSink(output, encode, audio_source=input_path, audio_start=decode.start, audio_duration=span)
    stats = RunStats()
    started = time.perf_counter()
    with frame_progress(title, video.frame_count, quiet) as progress:
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


def trimmed(info: VideoInfo, decode: DecodeConfig) -> tuple[VideoInfo, float]:
    """The VideoInfo of the part ``decode`` asks for (``start``, ``max_frames``) and the seconds of the
    source's audio that go with it (0 = to the end)."""
    video = trim_info(info, decode.start, decode.max_frames)
    limit = decode.max_frames
    span = video.timestamps[-1] - video.timestamps[0] + 1.0 / video.fps if (limit and video.timestamps) else 0.0
    return video, span


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


def is_photo_output(output: str | Path) -> bool:
    return Path(output).suffix.lower() in PHOTO_OUTPUTS


def reference_embedding_for(config: Config, stage_names: list[str]) -> np.ndarray | None:
    """The reference person's embedding for ``swap.select = 'reference'`` (computed once per run);
    None when the run does not pick faces by a reference photo."""
    if "swap" not in stage_names or config.section("swap").select != "reference" or not config.section("swap").reference:
        return None
    from pipeline.cli.reference import reference_embedding

    return reference_embedding(config, config.section("swap").reference)


class ListSink(NullSink):
    """Keeps every processed frame."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)


def run_in_memory(path: str | Path, config: Config, stages: list[str] | None = None) -> tuple[list[Frame], RunStats]:
    """The configured stages over a clip into memory, for measuring what ``convert`` does: processed
    frames (``meta['original']`` = the decoded input) and the run's stats (each stage's summary:
    ``stats.summary(name, kind)``).

    Quality measures compare output and input pixel by pixel, which an encoded file would blur (x264
    changes pixels by several levels); only the sink differs from a real run.
    """
    from pipeline.compose import build_stages
    from pipeline.media.preview import KeepOriginal
    from pipeline.runner import Runner
    from pipeline.stage import StageContext
    from stages import STAGES

    source = FileSource(str(path), config.decode)
    info = source.open()
    names = list(config.pipeline.stages if stages is None else stages)
    built, contexts = build_stages(config, STAGES, names, info, lambda message: None)
    built.insert(0, KeepOriginal(None))
    contexts.insert(0, StageContext(video=info, config=None))
    sink = ListSink()
    stats = Runner(source, built, sink, queue_frames=config.pipeline.queue_frames, contexts=contexts).run()
    return sink.frames, stats


def check_side_file(path: str | Path | None, option: str, *taken: str | Path) -> Path | None:
    """Refuse, before any work, a side file (``--stats``, ``--json``) that could only fail once the work is done.

    ``taken``: the run's other outputs, which the side file must not replace."""
    if not path:
        return None
    side = Path(path)
    if any(other and side.resolve() == Path(other).resolve() for other in taken):
        raise FacepipeError(f"{option} {side} is also the output; choose another path")
    check_file_destination(side, option)
    return side


def check_side_dir(path: str | Path | None, option: str) -> Path | None:
    """Refuse, before any work, an output folder that exists as a file (or sits under a file): created later,
    it would fail with NotADirectoryError or FileExistsError after the work was done."""
    if not path:
        return None
    folder = Path(path)
    probe_at = folder.resolve()
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    if not probe_at.is_dir():
        where = "" if probe_at == folder.resolve() else f" ({probe_at} is a file)"
        raise FacepipeError(f"{option} {folder}: not a folder{where}; give a folder path")
    return folder


def check_stage_setup(config: Config, stage_names: list[str]) -> None:
    """The checks a run makes before its first frame, callable without a run: ``doctor`` uses them so that it
    never passes a configuration ``convert`` refuses. The same functions the run calls, not copies:
    the stage list's requirements (``build_stages``) and the swap model's loader (the swap stage's open)."""
    from pipeline.compose import check_requirements
    from stages import STAGES

    check_requirements(STAGES, stage_names)
    if "swap" not in stage_names:
        return
    from stages.swap import check_method, painting_method

    swap = config.section("swap")
    check_method(swap)
    if painting_method(swap) == "pair":
        from models.checkpoint import load_model

        load_model(swap.model, "cpu")  # what the swap stage opens: refuses a pickle, a truncated or corrupt file
