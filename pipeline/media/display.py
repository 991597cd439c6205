"""Live outputs: a window, a network stream, a virtual camera, and a fan-out to several at once.

Each is a Sink (``open(info)``, ``write(frame)``, ``close(ok)``). A stream is encoded by an ffmpeg
child with x264 ``ultrafast``/``zerolatency`` (the latency-first settings), muxed as MPEG-TS for
udp/tcp/srt URLs, FLV for rtmp, RTSP for rtsp. The virtual camera uses ``pyvirtualcam`` when it is
installed (it needs v4l2loopback on Linux, OBS's camera on Windows/macOS); without it the error says so.
"""

from __future__ import annotations

import subprocess
from typing import Any, Callable

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.media.ffmpeg import ffmpeg_exe
from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo


class WindowSink:
    """Shows frames in an OpenCV window; closing it or pressing q/Esc calls ``on_quit`` (stops the source)."""

    def __init__(self, title: str = "facepipe", on_quit: Callable[[], None] | None = None) -> None:
        self.title = title
        self.on_quit = on_quit

    def open(self, info: VideoInfo) -> None:
        import cv2
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise FacepipeError("cannot open a window here (no display); use --stream or --record") from None

    def write(self, frame: Frame) -> None:
        import cv2
        cv2.imshow(self.title, frame.image)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            if self.on_quit is not None:
                self.on_quit()

    def close(self, ok: bool) -> None:
        import cv2
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


def _stream_format(url: str) -> str:
    scheme = url.split(":", 1)[0].lower()
    return {"rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp"}.get(scheme, "mpegts")


class StreamSink:
    """Encodes frames for a live network stream (low latency: no B-frames, a keyframe every second)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._process: subprocess.Popen | None = None

    def open(self, info: VideoInfo) -> None:
        gop = max(1, int(round(info.fps)))
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{info.width}x{info.height}", "-framerate", f"{info.fps:.3f}", "-i", "pipe:",
                   "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                   "-tune", "zerolatency", "-g", str(gop), "-f", _stream_format(self.url), self.url]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def write(self, frame: Frame) -> None:
        process = self._process
        assert process is not None and process.stdin is not None
        try:
            process.stdin.write(memoryview(np.ascontiguousarray(frame.image)).cast("B"))
        except (BrokenPipeError, OSError):
            error = process.stderr.read().decode(errors="replace").strip().splitlines() if process.stderr else []
            raise FacepipeError(f"stream {self.url} stopped: {error[-1] if error else 'ffmpeg exited'}") from None

    def close(self, ok: bool) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class VirtualCameraSink:
    """Sends frames to a virtual webcam (pyvirtualcam), for video-call apps."""

    def __init__(self) -> None:
        self._camera: Any = None

    def open(self, info: VideoInfo) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise FacepipeError("--virtual-camera needs `pip install pyvirtualcam` (and v4l2loopback on Linux)") from None
        try:
            self._camera = pyvirtualcam.Camera(width=info.width, height=info.height, fps=info.fps,
                                               fmt=pyvirtualcam.PixelFormat.BGR)
        except RuntimeError as exc:
            raise FacepipeError(f"cannot open a virtual camera: {exc}") from None

    def write(self, frame: Frame) -> None:
        self._camera.send(frame.image)

    def close(self, ok: bool) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
