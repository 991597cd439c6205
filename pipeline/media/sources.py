"""The live source table: a camera (index or name) or a stream URL / video file.

A new kind of live source is one module with a class (``open``, ``frames``, ``stop``, ``close``,
``live = True``, ``audio``: an AudioFeed or None) and one line here.
"""

from __future__ import annotations

from pipeline.registry import Registry

LIVE_SOURCES = Registry("live source", {
    "camera": "pipeline.media.capture:CameraSource",
    "stream": "pipeline.media.avsource:StreamSource",  # URLs and files, with sound
})


def live_source_kind(spec: str) -> str:
    from pipeline.media.capture import is_camera

    return "camera" if is_camera(spec) else "stream"


def open_live_source(spec: str, config: object) -> object:
    """The source for ``spec`` (not yet opened)."""
    return LIVE_SOURCES.load(live_source_kind(spec))(spec, config)
