"""The live output table: each ``facepipe live`` output option is one entry here.

An entry names a factory ``(option value, SinkContext) -> Sink``. Factories run before the source
opens, so every check that can fail (a path that exists, no display, a port taken) fails before a
camera or a file is touched. A new output is one module with a Sink class and a factory, one line in
``SINKS`` and one line in ``SINK_OPTIONS`` (its command-line option).
"""

from __future__ import annotations

from pipeline.registry import Registry

SINKS = Registry("live output", {
    "record": "pipeline.media.liveencode:record_sink",
    "stream": "pipeline.media.liveencode:stream_sink",
    "serve": "pipeline.media.mjpeg:serve_sink",
    "window": "pipeline.media.display:window_sink",
    "virtual_camera": "pipeline.media.display:virtual_camera_sink",
})

# option name -> (metavar, or None for a flag; help)
SINK_OPTIONS: dict[str, tuple[str | None, str]] = {
    "record": ("FILE", "record the output (with the source's sound) to a video file; kept however the session ends"),
    "stream": ("URL", "send the output (with sound) as a live stream: udp://, tcp://, srt://, rtmp://, rtsp://"),
    "serve": ("HOST:PORT", "serve the output to a browser: a page with the video (MJPEG) and the live figures"),
    "window": (None, "show the output in a window (q or Esc quits); needs a display"),
    "virtual_camera": (None, "send the output to a virtual webcam (pyvirtualcam; v4l2loopback on Linux, OBS on Windows/macOS)"),
}
