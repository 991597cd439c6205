"""Probing and decoding video files through ffmpeg pipes (ffmpeg-python builds the command lines).

Why this shape:
- Probing uses ``ffmpeg -i`` (header) plus a stream-copy packet scan (``-f framecrc``), not ffprobe,
  because the ffmpeg that imageio-ffmpeg ships has no ffprobe. The packet scan is cheap (no decoding)
  and gives the exact frame count and every frame's timestamp, which keeps variable-frame-rate video
  in sync when it is encoded again.
- Frames are decoded with ``-fps_mode passthrough`` so ffmpeg never invents or drops frames, and
  ffmpeg's auto-rotation is kept, so frames arrive upright with the displayed width and height.
- Decoding runs in its own process; reading its stdout in the runner's decode thread overlaps it with
  compute and encode.
- numpy and ffmpeg-python are imported where frames are read, not at import time: a stage-less
  convert (one ffmpeg process, :meth:`FileSink.transcode`) probes with this module and never needs them.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.media.colour import SWS_FLAGS, video_colour
from pipeline.media.ffmpeg import ffmpeg_exe, last_error_line, widen_pipe
from pipeline.videoinfo import AudioStream, VideoInfo

if TYPE_CHECKING:
    from pipeline.frame import Frame


@dataclass
class DecodeConfig:
    """The ``[decode]`` table."""

    threads: int = option(0, "ffmpeg decoder threads; 0 lets ffmpeg choose", min=0, max=64)
    start: float = option(0.0, "skip this many seconds of the source", unit="s", min=0.0)
    max_frames: int = option(0, "stop after this many frames; 0 = all", unit="frames", min=0)
    size: str = option("", "scale frames to WIDTHxHEIGHT as they are decoded (-1 for one side keeps the aspect "
                       "ratio, e.g. 1280x-1); empty = the source size")
    fps: float = option(0.0, "resample to this frame rate as frames are decoded (frames dropped or repeated); "
                        "0 = the source's own timing", unit="frames/s", min=0.0, max=1000.0)


_STREAM = re.compile(r"Stream #\d+:(\d+)[^:]*: (Video|Audio|Subtitle|Data|Attachment): (.*)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_START = re.compile(r"start: (-?[\d.]+)")
_ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_SIZE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_RATE = re.compile(r"([\d.]+k?) (fps|tbr)")


def _split_top_level(text: str) -> list[str]:
    """Split ffmpeg's stream description on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _color_tags(pixel_description: str) -> dict[str, str]:
    """ffmpeg's colour tags from e.g. ``yuv420p(tv, bt709)`` or ``yuv420p(tv, bt470bg/smpte170m/bt709, progressive)``."""
    if "(" not in pixel_description:
        return {}
    tags: dict[str, str] = {}
    for token in pixel_description.split("(", 1)[1].rstrip(")").split(","):
        token = token.strip()
        if token in ("tv", "pc"):
            tags["color_range"] = token
        elif token and token not in ("progressive", "top first", "bottom first", "top coded first (swapped)") \
                and not token.startswith("unknown"):
            names = token.split("/")
            space, primaries, transfer = (names + names[-1:] * 2)[:3] if len(names) < 3 else names[:3]
            for key, value in (("colorspace", space), ("color_primaries", primaries), ("color_trc", transfer)):
                if value != "unknown":
                    tags[key] = value
    return tags


def _rate(text: str) -> float:
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


def _header(path: str) -> str:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                            capture_output=True, text=True, errors="replace")
    return result.stderr


def _packet_times(path: str, stream: int) -> tuple[list[float], str]:
    """Presentation times (s, sorted) of the video stream's packets, and the demuxer's complaint if any."""
    # -copyts: the packets' own times. Without it ffmpeg shifts them by the file's start time already,
    # and ``probe`` subtracting that start again put a clip cut from later in a stream (start 5 s) at
    # -5 s: its encoded output held no frame a player would show
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-copyts", "-i", path,
           "-map", f"0:{stream}", "-c", "copy", "-f", "framecrc", "-"]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    timebase = 1.0
    times: list[float] = []
    for line in result.stdout.splitlines():
        if line.startswith("#tb"):
            num, den = line.split(":", 1)[1].strip().split("/")
            timebase = int(num) / int(den)
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            flags = int(fields[6].split("=")[1], 16) if len(fields) > 6 and fields[6].startswith("F=") else 0
            if flags & 0x4:  # AV_PKT_FLAG_DISCARD: trimmed by an edit list, never shown
                continue
            times.append(int(fields[2]) * timebase)
    times.sort()
    complaints = [line for line in result.stderr.splitlines() if "partial file" in line or "truncat" in line.lower()]
    damaged = "partial file" if complaints else ""
    return times, damaged


def probe(path: str | Path, count_frames: bool = True) -> VideoInfo:
    """Everything the pipeline needs to know about a video file, or a one-line FacepipeError.

    ``count_frames=False`` skips the packet scan (a second ffmpeg run over the file, ~0.1 s per
    10 s of 360p): ``frame_count`` is then the header's duration × rate and ``timestamps`` is None,
    enough for a stage-less transcode, which keeps the source's own timing and reports damage from
    its own ffmpeg's complaints.
    """
    path = str(path)
    if not os.path.exists(path):
        raise FacepipeError(f"input not found: {path}")
    if os.path.isdir(path):
        raise FacepipeError(f"input is a folder, not a video: {path}")
    if not os.access(path, os.R_OK):
        raise FacepipeError(f"input not readable: {path}")
    text = _header(path)
    if "Input #0" not in text:
        reason = text.strip().splitlines()[-1] if text.strip() else "unknown format"
        reason = reason.split(": ", 1)[-1] if path in reason else reason
        raise FacepipeError(f"cannot read {path}: not a video ffmpeg understands ({reason})")
    lines = text.splitlines()
    video_index, width, height, fps, codec, pix_fmt, rotation = -1, 0, 0, 0.0, "", "", 0
    color: dict[str, str] = {}
    audio: list[AudioStream] = []
    for number, line in enumerate(lines):
        match = _STREAM.search(line)
        if not match:
            continue
        index, kind, description = int(match.group(1)), match.group(2), match.group(3)
        parts = _split_top_level(description)
        if kind == "Audio":
            rate = re.search(r"(\d+) Hz", description)
            channels = 2 if "stereo" in description else 1 if "mono" in description else 0
            audio.append(AudioStream(index, parts[0].split()[0], int(rate.group(1)) if rate else 0, channels))
        elif kind == "Video" and video_index < 0 and "attached pic" not in description:
            video_index, codec = index, parts[0].split()[0]
            pix_fmt = parts[1].split("(")[0].strip() if len(parts) > 1 else ""
            color = _color_tags(parts[1]) if len(parts) > 1 else {}
            size = next((_SIZE.search(p) for p in parts[1:] if _SIZE.search(p)), None)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
            rates = {unit: _rate(value) for value, unit in _RATE.findall(description)}
            fps = rates.get("fps") or rates.get("tbr") or 0.0
            for follow in lines[number + 1: number + 8]:
                if _STREAM.search(follow):
                    break
                turn = _ROTATION.search(follow)
                if turn:
                    rotation = int(round(float(turn.group(1)))) % 360
    if video_index < 0 or width == 0 or height == 0:
        raise FacepipeError(f"{path} has no video stream")
    if rotation in (90, 270):
        width, height = height, width
    duration_match = _DURATION.search(text)
    duration = 0.0
    if duration_match:
        h, m, s = duration_match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    start_match = _START.search(text)
    file_start = float(start_match.group(1)) if start_match else 0.0
    times, damaged = _packet_times(path, video_index) if count_frames else ([], "")
    count = len(times) if count_frames else int(round(duration * fps))
    times = [t - file_start for t in times]
    steps = [later - earlier for earlier, later in zip(times, times[1:])]
    variable = len(steps) > 1 and (max(steps) - min(steps)) > 0.25 * statistics.median(steps)
    if count and duration and not variable:
        fps = fps or count / duration
    container = text.split("Input #0, ", 1)[1].split(",", 1)[0] if "Input #0, " in text else ""
    return VideoInfo(path=path, width=width, height=height, fps=fps or 25.0, frame_count=count,
                     duration=duration, codec=codec, pix_fmt=pix_fmt, rotation=rotation,
                     container=container, audio=audio, timestamps=times or None,
                     variable_frame_rate=variable, damaged=damaged, color=color)


def reshape_info(info: VideoInfo, config: DecodeConfig) -> VideoInfo:
    """What the decoder will deliver once ``decode.size`` and ``decode.fps`` are applied."""
    import dataclasses

    from pipeline.media.shape import fit_size, parse_size

    if config.size:
        width, height = fit_size(info.width, info.height, parse_size(config.size), even=True)
        info = dataclasses.replace(info, width=width, height=height)
    if config.fps:
        span = info.duration or (info.frame_count / info.fps if info.fps else 0.0)
        count = max(1, int(round(span * config.fps)))
        info = dataclasses.replace(info, fps=float(config.fps), frame_count=count,
                                   timestamps=[n / config.fps for n in range(count)], variable_frame_rate=False)
    return info


def truncation_warning(info: VideoInfo, count: int, whole_file: bool) -> str:
    """What to tell the user when fewer frames decoded than the file holds ("" when it looks whole).

    ``whole_file``: the run asked for every frame (no trim, no resampling), so a shortfall means damage.
    """
    if not info.damaged and not (whole_file and info.frame_count and count < info.frame_count):
        return ""
    covered = f"{count / info.fps:.1f} s" if info.fps else f"{count} frames"
    return (f"{info.path} is truncated or damaged ({info.damaged or 'frames missing'}): "
            f"converted the {count} frames that decode ({covered} of {info.duration:.1f} s)")


class FileSource:
    """Frames of a video file, decoded by an ffmpeg child process into BGR arrays."""

    live = False

    def __init__(self, path: str | Path, config: DecodeConfig | None = None) -> None:
        self.path = str(path)
        self.config = config or DecodeConfig()
        self.info: VideoInfo | None = None
        self._process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()
        self.frames_read = 0
        self.warnings: list[str] = []

    def open(self) -> VideoInfo:
        self.info = reshape_info(probe(self.path), self.config)
        return self.info

    def _command(self) -> list[str]:
        import ffmpeg

        input_args = {"nostdin": None}
        if self.config.start:
            input_args["ss"] = self.config.start
        if self.config.threads:
            input_args["threads"] = self.config.threads
        stream = ffmpeg.input(self.path, **input_args)
        filters = []
        if self.config.fps:
            filters.append(f"fps={self.config.fps}")
        if self.info is not None:  # BGR with the source's own matrix and range
            colour = video_colour(self.info)
            if self.config.size:  # one scaler resizes and converts
                filters.append(f"scale={self.info.width}:{self.info.height}:in_color_matrix={colour.matrix}:"
                               f"in_range={colour.range}:flags=area+{SWS_FLAGS}")
            else:
                filters.append(colour.to_bgr_filter())
        if filters:
            filter_args = {"vf": ",".join(filters)}
        else:
            filter_args = {}
        output = stream.output("pipe:", format="rawvideo", pix_fmt="bgr24", map="0:v:0", fps_mode="passthrough",
                               an=None, sn=None, dn=None, **filter_args)
        return [ffmpeg_exe(), "-hide_banner", "-v", "error"] + output.get_args()

    def frames(self) -> Iterator[Frame]:
        import numpy as np

        from pipeline.frame import Frame

        assert self.info is not None, "open() first"
        width, height = self.info.width, self.info.height
        shape = (height, width, 3)
        frame_bytes = height * width * 3
        self._process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._stderr, start_new_session=True, bufsize=frame_bytes)
        stdout = self._process.stdout
        assert stdout is not None
        widen_pipe(stdout)
        times = self.info.timestamps or []
        offset = int(round(self.config.start * self.info.fps)) if self.config.start else 0
        limit = self.config.max_frames or None
        index = 0
        while limit is None or index < limit:
            buffer = bytearray(frame_bytes)
            view = memoryview(buffer)
            got = 0
            while got < frame_bytes:
                chunk = stdout.readinto(view[got:])
                if not chunk:
                    break
                got += chunk
            if got < frame_bytes:
                break
            image = np.frombuffer(buffer, np.uint8).reshape(shape)
            source_index = index + offset
            pts = times[source_index] if source_index < len(times) else source_index / self.info.fps
            yield Frame(index=index, pts=pts, image=image, meta={"source_frame": source_index})
            index += 1
        self.frames_read = index
        self._finish(index, stopped_early=limit is not None and index >= limit)

    def _finish(self, count: int, stopped_early: bool) -> None:
        process = self._process
        if process is None:
            return
        if stopped_early:
            process.kill()
        code = process.wait()
        assert self.info is not None
        if count == 0 and not stopped_early:
            raise FacepipeError(f"cannot decode any frame of {self.path}: {last_error_line(self._stderr) or f'ffmpeg exit {code}'}")
        whole_file = not stopped_early and not self.config.start and not self.config.fps
        message = truncation_warning(self.info, count, whole_file)
        if message:
            self.warnings.append(message)


    def close(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None and process.stdout:
            process.stdout.close()
        self._process = None
