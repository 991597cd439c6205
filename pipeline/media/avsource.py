"""A stream URL or a video file as a live source, with its sound, via PyAV (libav in process).

Why PyAV and not OpenCV or an ffmpeg pipe: one demuxer gives both the pictures and the sound with
their timestamps (OpenCV drops sound; a pipe cannot report the frame size of a stream without
consuming it, and a listener accepts one client), and it had the lowest steady latency measured here
(see shared/notes/video-io.md).

- Files are paced at their own frame rate (``capture.realtime``) so a clip can stand in for a camera;
  streams arrive in real time by themselves.
- ``frame.pts`` is source time in seconds from the first frame; ``frame.meta['captured_at']`` is the
  wall clock (``time.monotonic``) when the decoded picture became available here — the start of the
  latency figure.
- A stream that delivers nothing for ``capture.stall_timeout`` seconds is ended cleanly (what was
  recorded is kept); with ``capture.reconnect`` it is reopened with back-off, and the time it was away
  is kept in the timeline (a recording holds the last picture and plays silence), so sound stays in sync.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator

import av
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.audio import CHANNELS, RATE, AudioFeed
from pipeline.media.capture import CaptureConfig
from pipeline.videoinfo import AudioStream, VideoInfo


def is_file(spec: str) -> bool:
    return "://" not in spec and os.path.exists(spec)


class StreamSource:
    """Pictures (and sound, when there is any) from a URL or a file, in real time."""

    live = True

    def __init__(self, spec: str, config: CaptureConfig | None = None) -> None:
        self.spec = spec
        self.config = config or CaptureConfig()
        self.info: VideoInfo | None = None
        self.audio: AudioFeed | None = None
        self.ended_by = ""  # "end", "stall", "stop" or "" while running: why frames() returned
        self.reconnects = 0
        self.error = ""  # libav's reason when a stream broke off
        self._container: Any = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._reading = False

    # --- opening ---------------------------------------------------------------------------------
    def _open_container(self) -> Any:
        cfg = self.config
        options: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        if not is_file(self.spec):
            # a small probe: the default 5 s probe delays the first frame by 5 s; not fflags=nobuffer,
            # which loses frames
            options = {"probesize": "500000", "analyzeduration": "0", "rw_timeout": str(int(cfg.stall_timeout * 1e6))}
            kwargs["timeout"] = (cfg.open_timeout, cfg.stall_timeout)
        elif not os.access(self.spec, os.R_OK):
            raise FacepipeError(f"cannot read {self.spec}")
        try:
            container = av.open(self.spec, options=options, **kwargs)
        except (av.FFmpegError, OSError) as exc:
            what = "stream" if "://" in self.spec else "file"
            raise FacepipeError(f"cannot open {what} {self.spec}: {_reason(exc)}") from None
        if not container.streams.video:
            container.close()
            raise FacepipeError(f"{self.spec} has no video stream")
        return container

    def open(self) -> VideoInfo:
        container = self._open_container()
        video = container.streams.video[0]
        rate = video.average_rate or video.guessed_rate or video.base_rate
        fps = float(rate) if rate else 30.0
        if not 1.0 <= fps <= 240.0:
            fps = 30.0
        width, height = video.codec_context.width, video.codec_context.height
        if width <= 0 or height <= 0:
            container.close()
            raise FacepipeError(f"{self.spec}: the source reports no frame size")
        audio = [AudioStream(index=s.index, codec=s.codec_context.name, sample_rate=s.codec_context.sample_rate or 0,
                             channels=s.codec_context.channels if hasattr(s.codec_context, "channels") else 0)
                 for s in container.streams.audio[:1]]
        self.audio = AudioFeed() if audio else None
        self._container = container
        self.info = VideoInfo(path=self.spec, width=width, height=height, fps=fps, frame_count=0, duration=0.0,
                              codec=video.codec_context.name, audio=audio, live=True)
        return self.info

    # --- reading ---------------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        assert self.info is not None, "open() first"
        self._reading = True
        session_start = time.monotonic()
        index = 0
        offset = 0.0  # timeline seconds where the current connection starts
        try:
            while True:
                container = self._container
                if container is None:
                    container = self._reconnect(session_start)
                    if container is None:
                        return
                    offset = time.monotonic() - session_start
                for image, pts in self._decode(container, offset):
                    now = time.monotonic()
                    yield Frame(index=index, pts=pts, image=image, meta={"captured_at": now})
                    index += 1
                    if self.config.duration and pts >= self.config.duration:
                        self.ended_by = "stop"
                        return
                if self.ended_by == "stop" or not self.config.reconnect or is_file(self.spec):
                    return
                self._release()
        finally:
            self._reading = False
            self._release()

    def _reconnect(self, session_start: float) -> Any:
        delay = 0.5
        deadline = time.monotonic() + self.config.reconnect_for
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                container = self._open_container()
            except FacepipeError:
                self._stopping.wait(delay)
                delay = min(delay * 2, 4.0)
                continue
            with self._lock:
                self._container = container
            self.reconnects += 1
            self.ended_by = ""
            return container
        return None

    def _decode(self, container: Any, offset: float) -> Iterator[tuple[np.ndarray, float]]:
        """(BGR image, timeline seconds) for each picture; sound goes to ``self.audio`` as it is demuxed."""
        video = container.streams.video[0]
        streams = [video] + list(container.streams.audio[:1] if self.audio else [])
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE) if self.audio else None
        first: float | None = None
        pace_start = time.monotonic()
        realtime = self.config.realtime and is_file(self.spec)
        width, height = self.info.width, self.info.height  # type: ignore[union-attr]
        try:
            for packet in container.demux(streams):
                if self._stopping.is_set():
                    self.ended_by = "stop"
                    return
                for decoded in packet.decode():
                    if decoded.time is None:
                        continue
                    if packet.stream.type == "audio":
                        if first is not None and resampler is not None and self.audio is not None:
                            at = offset + decoded.time - first
                            for chunk in resampler.resample(decoded):
                                self.audio.publish(at, chunk.to_ndarray().reshape(-1, CHANNELS))
                                at += chunk.samples / RATE
                        continue
                    if first is None:
                        first = decoded.time
                    pts = offset + decoded.time - first
                    if realtime:
                        wait = pace_start + (pts - offset) - time.monotonic()
                        if wait > 0 and self._stopping.wait(wait):
                            self.ended_by = "stop"
                            return
                    image = decoded.to_ndarray(format="bgr24", width=width, height=height)
                    yield image, pts
            self.ended_by = "end"
        except (av.FFmpegError, OSError) as exc:  # a read timeout or a broken connection
            self.ended_by = "stop" if self._stopping.is_set() else "stall"
            self.error = _reason(exc)

    # --- ending ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """End gracefully after the current frame (Ctrl-C, q in the window, --duration)."""
        self._stopping.set()

    def _release(self) -> None:
        with self._lock:
            container, self._container = self._container, None
        if container is not None:
            container.close()

    def close(self) -> None:
        self._stopping.set()
        if not self._reading:  # never close a container another thread is reading (libav would crash)
            self._release()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '", 1)[0].strip() or type(exc).__name__
