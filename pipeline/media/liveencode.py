"""Live outputs that encode: a recording (``--record FILE``) and a network stream (``--stream URL``).

Both run one ffmpeg child: the pictures on its stdin (raw BGR), the sound, when the source has any,
on a second pipe (16-bit PCM, 48 kHz stereo). Timing is by construction, not by wall clock:

- the video is constant-rate: frame ``n`` is source time ``n / fps``; when frames were dropped to keep
  up (or a stream was away while reconnecting), the last picture is repeated, so the timeline keeps
  the source's length;
- the sound is released to ffmpeg only as far as the video written so far (:class:`AudioWriter`),
  i.e. delayed by the measured video latency, so lips and sound line up in the output.

A stream is encoded latency-first (x264 ``ultrafast``/``zerolatency``, a keyframe a second, no
B-frames), muxed as MPEG-TS for udp/tcp/srt, FLV for rtmp, RTSP for rtsp. A recording uses the
``[encode]`` settings, goes through the atomic writer (a hidden temporary renamed on success), and is
kept, valid, when the source ends, stalls or the user stops.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.atomic import AtomicFile
from pipeline.media.audio import CHANNELS, RATE, AudioFeed, AudioWriter, audio_pipe
from pipeline.media.encode import BT709_TAGS, EncodeConfig, _muxer, check_output_path
from pipeline.media.sinkcontext import SinkContext
from pipeline.media.ffmpeg import ffmpeg_exe, last_error_line, widen_pipe
from pipeline.videoinfo import VideoInfo

MAX_FILL_SECONDS = 600.0  # never repeat a picture for longer than this (a clock jump, not a gap)


class LiveEncoder:
    """Shared by the recording and the stream: constant-rate video, sound held back to the video."""

    def __init__(self, target: str, source: object = None, with_audio: bool = True) -> None:
        self.target = target
        self.source = source  # its ``audio`` feed is known once it is open
        self.with_audio = with_audio
        self.audio: AudioFeed | None = None
        self.frames_written = 0  # pictures ffmpeg received, repeats included
        self.frames_repeated = 0
        self._process: subprocess.Popen | None = None
        self._audio_writer: AudioWriter | None = None
        self._stderr = tempfile.TemporaryFile()
        self._fps = 30.0
        self._last: np.ndarray | None = None

    # subclasses say where and how
    def output_args(self, info: VideoInfo) -> list[str]:
        raise NotImplementedError

    def audio_args(self) -> list[str]:
        return ["-c:a", "aac", "-b:a", "128k"]

    def open(self, info: VideoInfo) -> None:
        self._fps = info.fps
        self.audio = getattr(self.source, "audio", None) if self.with_audio else None
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                   "-thread_queue_size", "64", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{info.width}x{info.height}",
                   "-framerate", f"{info.fps:.6f}", "-i", "pipe:0"]
        read_fd, pipe = (audio_pipe() if self.audio is not None else (-1, None))
        if pipe is not None:
            command += ["-thread_queue_size", "64", "-f", "s16le", "-ar", str(RATE), "-ac", str(CHANNELS), "-i", f"pipe:{read_fd}",
                        "-map", "0:v", "-map", "1:a", *self.audio_args()]
        vf = "pad=ceil(iw/2)*2:ceil(ih/2)*2,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
        command += ["-vf", vf, *[arg for key, value in BT709_TAGS.items() for arg in (f"-{key}", value)],
                    *self.output_args(info)]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                             start_new_session=True, pass_fds=(read_fd,) if pipe is not None else ())
        finally:
            if pipe is not None:
                os.close(read_fd)
        widen_pipe(self._process.stdin)
        if pipe is not None and self.audio is not None:
            self._audio_writer = AudioWriter(self.audio, pipe, 1.0 / info.fps)

    def write(self, frame: Frame) -> None:
        target = int(round(frame.pts * self._fps))
        if target < self.frames_written:
            return  # two pictures for one slot (clock jitter): keep the timeline
        missing = min(target - self.frames_written, int(MAX_FILL_SECONDS * self._fps))
        image = np.ascontiguousarray(frame.image)
        if self._last is not None:
            for _ in range(missing):
                self._send(self._last)
                self.frames_repeated += 1
        self._send(image)
        self._last = image

    def _send(self, image: np.ndarray) -> None:
        process = self._process
        assert process is not None and process.stdin is not None, "open() first"
        try:
            process.stdin.write(memoryview(image).cast("B"))
        except (BrokenPipeError, OSError):
            process.wait()
            raise FacepipeError(f"{self.describe()} stopped: {last_error_line(self._stderr) or 'ffmpeg exited'}") from None
        self.frames_written += 1
        if self._audio_writer is not None:  # per picture, repeats included: ffmpeg waits for sound to match
            self._audio_writer.advance(self.frames_written / self._fps)

    def describe(self) -> str:
        return self.target

    def finish(self, ok: bool) -> bool:
        """End ffmpeg; True when it wrote a complete output."""
        process, self._process = self._process, None
        if process is None:
            return False
        writer, self._audio_writer = self._audio_writer, None
        if not ok:
            process.kill()
            process.wait()
            if writer is not None:
                writer.finish(0.0, timeout=1)
            return False
        if writer is not None:
            writer.finish(self.frames_written / self._fps)
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
    """``--record FILE``: the output with its sound, kept when the session ends however it ends."""

    def __init__(self, path: str | Path, config: EncodeConfig, source: object = None) -> None:
        super().__init__(str(path), source, with_audio=config.audio != "none")
        self.path = Path(path)
        self.config = config
        self._file = AtomicFile(self.path)

    def output_args(self, info: VideoInfo) -> list[str]:
        suffix = self.path.suffix.lower()
        args = ["-c:v", self.config.codec, "-crf", str(self.config.crf)]
        if self.config.codec in ("libx264", "libx265"):
            args += ["-preset", self.config.preset]
        if suffix in (".mp4", ".mov", ".m4v"):
            args += ["-movflags", "+faststart"]
        return args + ["-f", _muxer(suffix), str(self._file.temp)]

    def audio_args(self) -> list[str]:
        codec = "libopus" if self.path.suffix.lower() == ".webm" else "aac"
        return ["-c:a", codec, "-b:a", self.config.audio_bitrate]

    def describe(self) -> str:
        return f"recording {self.path}"

    def close(self, ok: bool) -> None:
        committed = False
        try:
            if self.finish(ok and self.frames_written > 0):
                self._file.commit()
                committed = True
        finally:
            if not committed:
                self._file.abort()


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
