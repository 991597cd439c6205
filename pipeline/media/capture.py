"""Live input settings, and cameras: listing them, finding one by index or name, reading it.

Cameras are read with OpenCV (V4L2 on Linux, MSMF on Windows, AVFoundation on macOS): it is the
portable way to open a webcam. A webcam's microphone is a separate device, so camera sources carry no
sound (streams and files do: see :mod:`pipeline.media.avsource`). OpenCV's own log is silenced while a
camera is opened, so a missing camera is one line, not a page of backend warnings.

Names: on Linux ``/sys/class/video4linux/videoN/name`` gives each device's name, so ``live "HD Webcam"``
works; elsewhere OpenCV exposes no names and cameras are listed (and picked) by index only.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.videoinfo import VideoInfo

if TYPE_CHECKING:
    from pipeline.frame import Frame

SYSFS = Path("/sys/class/video4linux")


@dataclass
class CaptureConfig:
    """The ``[capture]`` table (live sources)."""

    width: int = option(0, "ask the camera for this frame width; 0 = its default", unit="px", min=0, max=8192)
    height: int = option(0, "ask the camera for this frame height; 0 = its default", unit="px", min=0, max=8192)
    fps: float = option(0.0, "ask the camera for this rate; 0 = its default", unit="frames/s", min=0.0, max=240.0)
    open_timeout: float = option(10.0, "give up when the source delivers no frame for this long at start", unit="s",
                                 min=0.5, max=600.0)
    stall_timeout: float = option(2.0, "a stream that delivers nothing for this long has stalled (ended, or "
                                  "reconnected with capture.reconnect)", unit="s", min=0.2, max=600.0)
    reconnect: bool = option(False, "reopen a stream that stalls or ends, with back-off (--reconnect)")
    reconnect_for: float = option(60.0, "give up reconnecting after this long", unit="s", min=1.0, max=86400.0)
    realtime: bool = option(True, "pace a file source at its own frame rate so it stands in for a camera (--realtime)")
    max_in_flight: int = option(2, "frames between the source and the outputs at once; each extra frame adds one "
                                "slowest-stage time of latency, 1 gives no overlap between stages", unit="frames", min=1, max=16)
    stage_threads: int = option(1, "threads the face stages run on: 1 = all stages one after another on one thread "
                                "(least latency on a few cores), N = N groups of consecutive stages, 0 = a thread "
                                "per stage (most overlap: more throughput on many cores)", min=0, max=16)
    duration: float = option(0.0, "stop after this many seconds; 0 = until the source ends or Ctrl-C", unit="s", min=0.0)


@dataclass
class Camera:
    index: int
    name: str


def list_cameras(sysfs: Path = SYSFS) -> list[Camera]:
    """The cameras this machine has, by index and name (Linux: from sysfs; elsewhere: probed by index)."""
    if sys.platform.startswith("linux"):
        cameras = []
        for entry in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else -1):
            if not entry.name[5:].isdigit():
                continue
            name_file = entry / "name"
            name = name_file.read_text().strip() if name_file.exists() else entry.name
            cameras.append(Camera(int(entry.name[5:]), name))
        return cameras
    cameras = []
    with quiet_opencv() as cv2:
        for index in range(10):
            capture = cv2.VideoCapture(index)
            if capture.isOpened():
                cameras.append(Camera(index, f"camera {index}"))
            capture.release()
    return cameras


def find_camera(spec: str, sysfs: Path = SYSFS) -> int:
    """A camera index from ``spec``: an index, or (part of) a name as ``--list-cameras`` shows it."""
    cameras = list_cameras(sysfs)
    if spec.isdigit():
        index = int(spec)
        if sys.platform.startswith("linux") and all(camera.index != index for camera in cameras):
            raise FacepipeError(f"no camera {index}: {_found(cameras)}")
        return index
    matches = [camera for camera in cameras if camera.name.lower() == spec.lower()] or \
              [camera for camera in cameras if spec.lower() in camera.name.lower()]
    if len(matches) != 1:
        what = "no camera" if not matches else f"{len(matches)} cameras"
        raise FacepipeError(f"{what} named {spec!r}: {_found(cameras)}")
    return matches[0].index


def _found(cameras: list[Camera]) -> str:
    if not cameras:
        return "this machine has no camera (facepipe live --list-cameras)"
    return "cameras: " + ", ".join(f"{camera.index} ({camera.name})" for camera in cameras)


def is_camera(spec: str) -> bool:
    """A camera index or name rather than a URL or a file (a missing ``clip.mp4`` is a missing file, not a camera)."""
    if spec.isdigit():
        return True
    return "://" not in spec and not Path(spec).exists() and not Path(spec).suffix and "/" not in spec


@contextlib.contextmanager
def quiet_opencv() -> Iterator[object]:
    """OpenCV with its log silenced (its backends warn on every failed probe)."""
    import cv2

    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield cv2
    finally:
        logging.setLogLevel(previous)


class CameraSource:
    """Frames from a webcam, stamped with the wall clock when they arrive."""

    live = True
    audio = None  # a webcam's microphone is another device

    def __init__(self, spec: str, config: CaptureConfig | None = None) -> None:
        import cv2
        self.spec = spec
        self.config = config or CaptureConfig()
        self.info: VideoInfo | None = None
        self.ended_by = ""
        self.error = ""
        self.reconnects = 0
        self._capture: object = None
        self._closed = False

    def open(self) -> VideoInfo:
        index = find_camera(self.spec)
        cfg = self.config
        with quiet_opencv() as cv2:
            capture = cv2.VideoCapture(index)
            if not capture.isOpened():
                raise FacepipeError(f"cannot open camera {self.spec} (busy, or no permission)")
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
            raise FacepipeError(f"camera {self.spec} reports no frame size")
        self._capture = capture
        self.info = VideoInfo(path=f"camera {index}", width=width, height=height, fps=fps if 1 <= fps < 1000 else 30.0,
                              frame_count=0, duration=0.0, live=True)
        return self.info

    def frames(self) -> Iterator[Frame]:
        import cv2

        from pipeline.frame import Frame

        capture = self._capture
        assert capture is not None and self.info is not None, "open() first"
        started = time.monotonic()
        index = 0
        while not self._closed:
            ok, image = capture.read()  # type: ignore[attr-defined]
            now = time.monotonic()
            if not ok or image is None:
                self.ended_by = "stall"
                return
            if image.shape[:2] != (self.info.height, self.info.width):
                image = cv2.resize(image, (self.info.width, self.info.height))
            yield Frame(index=index, pts=now - started, image=image, meta={"captured_at": now})
            index += 1
            if self.config.duration and now - started >= self.config.duration:
                self.ended_by = "stop"
                return
        self.ended_by = "stop"

    def stop(self) -> None:
        self._closed = True

    def close(self) -> None:
        self._closed = True
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()  # type: ignore[attr-defined]
