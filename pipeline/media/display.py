"""Live outputs that show pictures on this machine: a window and a virtual camera.

The window is OpenCV's (Qt here). OpenCV aborts the whole process inside Qt when there is no display
(exit 134: the recording is lost), so :func:`check_display` decides before anything opens: on Linux,
no ``DISPLAY``/``WAYLAND_DISPLAY`` is a one-line error, and a display that is set is probed in a child
process first, which can crash without taking the session with it.

The virtual camera uses ``pyvirtualcam`` (optional: ``pip install facepipe[virtualcam]``). It needs the
v4l2loopback kernel module on Linux, OBS's virtual camera on Windows and macOS; ``backend`` picks a
pyvirtualcam backend by name (the tests register a fake one, these machines have no v4l2loopback).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Callable

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.sinkcontext import SinkContext
from pipeline.videoinfo import VideoInfo

_PROBE = "import cv2; cv2.namedWindow('facepipe-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


def check_display() -> None:
    """Raise a one-line error when a window cannot open here; never lets OpenCV abort the process."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise FacepipeError("--window needs a display and none is set (DISPLAY/WAYLAND_DISPLAY); "
                            "watch in a browser with --serve 127.0.0.1:8080, or use --record/--stream")
    if sys.platform.startswith("linux"):
        try:
            probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            raise FacepipeError("--window: the display did not answer within 20 s; use --serve or --record") from None
        if probe.returncode != 0:
            shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            raise FacepipeError(f"--window: cannot open a window on display {shown}; "
                                "watch in a browser with --serve 127.0.0.1:8080, or use --record/--stream")


class WindowSink:
    """Shows frames in an OpenCV window; closing it or pressing q/Esc calls ``on_quit`` (stops the source)."""

    def __init__(self, title: str = "facepipe", on_quit: Callable[[], None] | None = None) -> None:
        self.title = title
        self.on_quit = on_quit

    def open(self, info: VideoInfo) -> None:
        import cv2

        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)

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


class VirtualCameraSink:
    """Sends frames to a virtual webcam (pyvirtualcam), for video-call apps."""

    def __init__(self, backend: str | None = None, device: str | None = None) -> None:
        self.backend = backend
        self.device = device
        self._camera: Any = None
        self.frames_sent = 0

    def open(self, info: VideoInfo) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise FacepipeError("--virtual-camera needs `pip install pyvirtualcam` (and v4l2loopback on Linux, "
                                "OBS's virtual camera on Windows/macOS)") from None
        try:
            self._camera = pyvirtualcam.Camera(width=info.width, height=info.height, fps=info.fps,
                                               fmt=pyvirtualcam.PixelFormat.BGR, backend=self.backend, device=self.device)
        except (RuntimeError, ValueError) as exc:
            hint = " (Linux needs the v4l2loopback module: modprobe v4l2loopback)" if sys.platform.startswith("linux") else ""
            raise FacepipeError(f"cannot open a virtual camera: {str(exc).splitlines()[0]}{hint}") from None

    def write(self, frame: Frame) -> None:
        self._camera.send(frame.image)
        self.frames_sent += 1

    def close(self, ok: bool) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


def window_sink(value: Any, context: SinkContext) -> WindowSink:
    check_display()
    return WindowSink(on_quit=context.on_quit)


def virtual_camera_sink(value: Any, context: SinkContext) -> VirtualCameraSink:
    return VirtualCameraSink()
