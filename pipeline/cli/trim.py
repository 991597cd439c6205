"""``--start`` / ``--end``: a part of a video given as a time or a frame number.

A position is seconds (``12.5``), a clock time (``1:02.5``, ``0:01:02.5``) or a frame number with an
``f`` suffix (``250f``; frames of the decoded video, so after ``--fps`` when both are given). The end
is exclusive: ``--start 2 --end 4`` keeps the frames shown from 2 s up to, not including, 4 s.
Positions become ``decode.start`` (seconds) and ``decode.max_frames`` once the video is probed,
because a frame number needs the video's own timestamps (variable frame rate included).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.errors import FacepipeError
from pipeline.videoinfo import VideoInfo


@dataclass(frozen=True)
class Position:
    value: float
    is_frame: bool
    text: str


def parse_position(text: str) -> Position:
    """The argparse ``type`` of ``--start``/``--end`` (a bad value is a usage error of the command)."""
    raw = text.strip().lower()
    try:
        if raw.endswith("f"):
            frame = int(raw[:-1])
            if frame < 0:
                raise ValueError
            return Position(float(frame), True, text)
        seconds = 0.0
        for part in raw.split(":"):
            seconds = seconds * 60 + float(part)
        if seconds < 0 or raw.count(":") > 2:
            raise ValueError
        return Position(seconds, False, text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time (12.5, 1:02.5) or a frame number (250f)") from None


def add_trim_options(parser: argparse.ArgumentParser, what: str = "convert") -> None:
    parser.add_argument("--start", type=parse_position, metavar="TIME|Nf",
                        help=f"{what} from this time (12.5, 1:02.5) or frame (250f)")
    parser.add_argument("--end", type=parse_position, metavar="TIME|Nf",
                        help=f"{what} up to (not including) this time or frame")
    parser.add_argument("--size", metavar="WxH", help="scale frames to this size (-1 keeps the aspect ratio: 1280x-1)")
    parser.add_argument("--fps", type=float, metavar="RATE", help="resample to this frame rate")


def trim_overrides(args: argparse.Namespace) -> list[str]:
    """``--size``/``--fps`` as ``--set`` overrides of the [decode] table (validated there)."""
    import json

    overrides = []
    if getattr(args, "size", None):
        from pipeline.media.shape import parse_size

        parse_size(args.size)  # one-line error before anything opens
        overrides.append(f"decode.size={json.dumps(args.size)}")
    if getattr(args, "fps", None) is not None:
        if args.fps <= 0:
            raise FacepipeError(f"--fps {args.fps}: must be above 0")
        overrides.append(f"decode.fps={args.fps}")
    return overrides


def _time_of(position: Position, times: list[float], fps: float) -> float:
    if not position.is_frame:
        return position.value
    frame = int(position.value)
    if times:
        if frame >= len(times):
            raise FacepipeError(f"frame {frame} is past the end of the video ({len(times)} frames)")
        # a hair before the frame's own time, so that rounding in ffmpeg's seek cannot skip it
        return max(0.0, times[frame] - 0.001)
    return max(0.0, (frame - 0.25) / fps)


def apply_trim(decode: Any, info: VideoInfo, start: Position | None, end: Position | None) -> Any:
    """``decode`` with ``start`` (s) and ``max_frames`` set from ``--start``/``--end`` for this video."""
    if start is None and end is None:
        return decode
    times = info.timestamps or []
    first = _time_of(start, times, info.fps) if start is not None else decode.start
    if times and first > times[-1] + 1e-6:
        raise FacepipeError(f"--start {start.text if start else first}: past the end of {info.path} "
                            f"({info.duration:.2f} s, {len(times)} frames)")
    limit = decode.max_frames
    if end is not None:
        last = _time_of(end, times, info.fps) if not (end.is_frame and times and end.value >= len(times)) else float("inf")
        if last <= first:
            raise FacepipeError(f"--end {end.text} is not after --start ({first:.3f} s)")
        if times:
            limit = sum(1 for t in times if first - 1e-6 <= t < last - 1e-6)
        else:
            limit = max(1, int(round((last - first) * info.fps)))
        if decode.max_frames:
            limit = min(limit, decode.max_frames)
    return dataclasses.replace(decode, start=first, max_frames=limit)
