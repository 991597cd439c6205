"""Live input: a camera index (``0``) or a stream URL (``udp://``, ``tcp://``, ``rtsp://``, ``http://``...).

OpenCV's capture (its FFmpeg backend for URLs, V4L2/MSMF/AVFoundation for cameras) is used rather
than an ffmpeg pipe because a live source's frame size cannot be probed without consuming the
stream (a listener accepts one client), while a capture reports it once opened. Frames are stamped
with the wall clock; the runner drops the oldest waiting frame when compute falls behind, so the
output stays real time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterator


from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo


@dataclass
class CaptureConfig:
    """The ``[capture]`` table (live sources)."""

    width: int = option(0, "ask the camera for this frame width; 0 = its default", unit="px", min=0, max=8192)
    height: int = option(0, "ask the camera for this frame height; 0 = its default", unit="px", min=0, max=8192)
    fps: float = option(0.0, "ask the camera for this rate; 0 = its default", unit="frames/s", min=0.0, max=240.0)
    open_timeout: float = option(10.0, "give up when the source delivers no frame for this long", unit="s",
                                 min=0.5, max=600.0)
    duration: float = option(0.0, "stop after this many seconds; 0 = until the source ends or Ctrl-C", unit="s", min=0.0)


class LiveSource:
    """Frames from a camera or a network stream, in real time."""

    live = True

    def __init__(self, spec: str, config: CaptureConfig | None = None) -> None:
        import cv2
        self.spec = spec
        self.config = config or CaptureConfig()
        self.info: VideoInfo | None = None
        self._capture: cv2.VideoCapture | None = None
        self._closed = False

    def open(self) -> VideoInfo:
        import cv2
        cfg = self.config
        timeout_ms = int(cfg.open_timeout * 1000)
        if self.spec.isdigit():
            capture = cv2.VideoCapture(int(self.spec))
        else:
            # low-latency start: a small probe (the default 5 s probe delays the first frame); not
            # fflags=nobuffer, which loses frames
            os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # errors only: no decoder chatter mid-stream
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "probesize;500000|analyzeduration;0")
            capture = cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG,
                                       [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        if not capture.isOpened():
            kind = "camera" if self.spec.isdigit() else "stream"
            raise FacepipeError(f"cannot open {kind} {self.spec}")
        if cfg.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        if cfg.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps:
            capture.set(cv2.CAP_PROP_FPS, cfg.fps)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        if width <= 0 or height <= 0:
            capture.release()
            raise FacepipeError(f"{self.spec}: the source reports no frame size")
        self._capture = capture
        self.info = VideoInfo(path=self.spec, width=width, height=height, fps=fps if fps < 1000 else 30.0,
                              frame_count=0, duration=0.0, live=True)
        return self.info

    def frames(self) -> Iterator[Frame]:
        import cv2
        capture = self._capture
        assert capture is not None and self.info is not None, "open() first"
        started = time.monotonic()
        index = 0
        while not self._closed:
            ok, image = capture.read()
            now = time.monotonic()
            if not ok or image is None:
                return  # stream ended (or timed out)
            if image.shape[:2] != (self.info.height, self.info.width):
                image = cv2.resize(image, (self.info.width, self.info.height))
            yield Frame(index=index, pts=now - started, image=image, meta={"captured_at": now})
            index += 1
            if self.config.duration and now - started >= self.config.duration:
                return

    def stop(self) -> None:
        """End the stream gracefully after the current frame (Ctrl-C, or q in the window)."""
        self._closed = True

    def close(self) -> None:
        self._closed = True
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()
