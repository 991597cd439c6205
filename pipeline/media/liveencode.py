"""Live outputs that encode: a recording (``--record FILE``) and a network stream (``--stream URL``).

Both run one ffmpeg child fed through its stdin with NUT (a container with a timestamp on every
packet), muxed here by PyAV: raw BGR pictures stamped with their source time, and, when the source has
sound, 16-bit PCM stamped by sample count. Timing is by construction, not by wall clock:

- the video is variable-rate: a picture keeps its source time, so frames dropped to keep up (or the
  time a stream was away while reconnecting) leave the timeline intact without costing an encode;
- the sound is handed to the muxer only as far as the picture just written (plus ``AudioCursor.LEAD``),
  i.e. delayed by the measured video latency, and lines up with the pictures by sample count.

A stream is encoded latency-first (x264 ``ultrafast``/``zerolatency``, a keyframe a second, no
B-frames), muxed as MPEG-TS for udp/tcp/srt, FLV for rtmp, RTSP for rtsp. A recording uses the
``[encode]`` settings and is written in place, in a form that is valid while it grows: fragmented MP4
(``.mp4``/``.m4v``/``.mov``: an empty ``moov`` up front, then self-contained fragments), Matroska/WebM
(clusters) or MPEG-TS. Unlike every other output it does not go through the atomic writer: a live
session can end by ``kill -9`` or a power cut, and a hidden temporary that nobody renames would lose
the recording, while a file that is valid at every fragment keeps all but the last second or so.
(After ``kill -9`` of facepipe alone, its ffmpeg sees the end of its input and finishes the file.)
A session that ends before its first frame leaves nothing at the path.
"""

from __future__ import annotations

import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.audio import RATE, AudioCursor, AudioFeed
from pipeline.media.colour import video_colour
from pipeline.media.encode import EncodeConfig, check_output_path, muxer_for
from pipeline.media.ffmpeg import ffmpeg_exe, last_error_line, widen_pipe
from pipeline.media.sinkcontext import SinkContext
from pipeline.videoinfo import VideoInfo

TIME_BASE = Fraction(1, 90000)


class LiveEncoder:
    """Shared by the recording and the stream: pictures at their source times, sound held back to them."""

    def __init__(self, target: str, source: object = None, with_audio: bool = True) -> None:
        self.target = target
        self.source = source  # its ``audio`` feed is known once it is open
        self.with_audio = with_audio
        self.audio: AudioFeed | None = None
        self.frames_written = 0
        self._process: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()
        self._mux: Any = None
        self._video: Any = None
        self._sound: Any = None
        self._cursor: AudioCursor | None = None
        self._last_pts = -1
        self._end = 0.0

    # subclasses say where and how
    def output_args(self, info: VideoInfo) -> list[str]:
        raise NotImplementedError

    def audio_args(self) -> list[str]:
        return ["-c:a", "aac", "-b:a", "128k"]

    def open(self, info: VideoInfo) -> None:
        self.audio = getattr(self.source, "audio", None) if self.with_audio else None
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "nut", "-i", "pipe:0", "-map", "0:v"]
        if self.audio is not None:
            command += ["-map", "0:a", *self.audio_args()]
        colour = video_colour(info)  # the matrix the frames were decoded with, and the source's tags
        vf = f"pad=ceil(iw/2)*2:ceil(ih/2)*2,{colour.from_bgr_filter()},format=yuv420p"
        command += ["-vf", vf, "-fps_mode", "passthrough", *[arg for key, value in colour.tags.items() for arg in (f"-{key}", value)],
                    *self.output_args(info)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                         start_new_session=True)
        widen_pipe(self._process.stdin)
        self._mux = av.open(self._process.stdin, mode="w", format="nut")
        self._video = self._mux.add_stream("rawvideo", rate=Fraction(info.fps).limit_denominator(1001))
        self._video.width, self._video.height, self._video.pix_fmt = info.width, info.height, "bgr24"
        self._video.time_base = TIME_BASE
        if self.audio is not None:
            self._sound = self._mux.add_stream("pcm_s16le", rate=RATE, layout="stereo")
            self._sound.time_base = Fraction(1, RATE)
            self._cursor = AudioCursor(self.audio)

    def write(self, frame: Frame) -> None:
        pts = int(round(frame.pts / TIME_BASE))
        if pts <= self._last_pts:
            return  # two pictures for one instant (clock jitter): keep the timeline monotonic
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.image), format="bgr24")
        picture.pts, picture.time_base = pts, TIME_BASE
        self._mux_packets(self._video.encode(picture))
        self._last_pts = pts
        self._end = frame.pts
        self.frames_written += 1
        if self._cursor is not None:
            self._write_sound(self._cursor.take(frame.pts + AudioCursor.LEAD))

    def _write_sound(self, pcm: np.ndarray) -> None:
        if not len(pcm) or self._cursor is None:
            return
        chunk = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="stereo")
        chunk.sample_rate = RATE
        chunk.pts, chunk.time_base = self._cursor.position - len(pcm), Fraction(1, RATE)
        self._mux_packets(self._sound.encode(chunk))

    def _mux_packets(self, packets: Any) -> None:
        try:
            for packet in packets:
                self._mux.mux(packet)
        except (BrokenPipeError, OSError, av.FFmpegError, ValueError):
            if self._process is not None:
                self._process.wait()
            raise FacepipeError(f"{self.describe()} stopped: {last_error_line(self._stderr) or 'ffmpeg exited'}") from None

    def describe(self) -> str:
        return self.target

    def finish(self, ok: bool) -> bool:
        """End ffmpeg; True when it wrote a complete output."""
        process, self._process = self._process, None
        if process is None:
            return False
        if not ok:
            process.kill()
            process.wait()
            try:
                self._mux.close()
            except Exception:  # noqa: BLE001 - the pipe is gone; nothing to keep
                pass
            return False
        try:
            end = self._end + 1.0 / float(self._video.average_rate or 30)
            if self._cursor is not None:  # the sound to the end of the last picture
                self._write_sound(self._cursor.take(end))
                self._write_sound(self._cursor.silence_until(end))
                self._mux_packets(self._sound.encode(None))
            self._mux_packets(self._video.encode(None))
            self._mux.close()
        except (BrokenPipeError, OSError):
            pass  # ffmpeg's exit status says what happened
        try:
            process.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -9
        if code != 0:
            raise FacepipeError(f"{self.describe()}: ffmpeg failed: {last_error_line(self._stderr) or f'exit {code}'}")
        return True


class RecordSink(LiveEncoder):
    """``--record FILE``: the output with its sound, written in place in a crash-safe form (see the module
    docstring), so the recording is at its path and valid however the session ends."""

    # fragments: a new one at each keyframe and at least every second, so a killed ffmpeg loses at most ~1 s;
    # delay_moov writes the moov with the first fragment, once the start times (and the edit list that keeps
    # the sound in sync) are known
    FRAGMENTED = ["-movflags", "+frag_keyframe+empty_moov+delay_moov+default_base_moof", "-frag_duration", "1000000"]

    def __init__(self, path: str | Path, config: EncodeConfig, source: object = None) -> None:
        super().__init__(str(path), source, with_audio=config.audio != "none")
        self.path = Path(path)
        self.config = config
        self._created = False  # only a file this sink started is ever removed

    def output_args(self, info: VideoInfo) -> list[str]:
        suffix = self.path.suffix.lower()
        args = ["-c:v", self.config.codec, "-crf", str(self.config.crf)]
        if self.config.codec in ("libx264", "libx265"):
            args += ["-preset", self.config.preset]
        if suffix in (".mp4", ".mov", ".m4v"):
            args += self.FRAGMENTED
        elif suffix in (".mkv", ".webm"):
            args += ["-cluster_time_limit", "1000"]  # a cluster a second: what a cut-off file loses at most
        return args + ["-f", muxer_for(suffix), str(self.path)]

    def audio_args(self) -> list[str]:
        codec = "libopus" if self.path.suffix.lower() == ".webm" else "aac"
        return ["-c:a", codec, "-b:a", self.config.audio_bitrate]

    def describe(self) -> str:
        return f"recording {self.path}"

    def open(self, info: VideoInfo) -> None:
        self._created = True
        super().open(info)

    def close(self, ok: bool) -> None:
        """Finish the file whenever it holds a frame (an error ends the session, not the recording); remove it
        when it holds none."""
        if self.frames_written == 0:
            self.finish(False)
            if self._created:
                self.path.unlink(missing_ok=True)
            return
        try:
            self.finish(True)
        except FacepipeError:
            if ok:
                raise  # the session's own error, when there is one, is the one to report


def _stream_format(url: str) -> str:
    scheme = url.split(":", 1)[0].lower()
    return {"rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp"}.get(scheme, "mpegts")


class StreamSink(LiveEncoder):
    """``--stream URL``: latency-first H.264 (+ AAC when the source has sound)."""

    def output_args(self, info: VideoInfo) -> list[str]:
        gop = max(1, int(round(info.fps)))
        return ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(gop),
                "-f", _stream_format(self.target), self.target]

    def describe(self) -> str:
        return f"stream {self.target}"

    def close(self, ok: bool) -> None:
        self.finish(ok)


def record_sink(value: str, context: SinkContext) -> RecordSink:
    path = check_output_path(value, [context.source_spec], context.overwrite)
    return RecordSink(path, context.config.encode, context.source)


def stream_sink(value: str, context: SinkContext) -> StreamSink:
    return StreamSink(value, context.source)
