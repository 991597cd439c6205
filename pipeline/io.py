"""Sources and sinks: the two small interfaces the runner talks to.

A source yields Frames (a video file, a camera, a stream); a sink consumes them (an encoder, a
window, a faceset writer, a corpus writer). The runner does not care which; live sources and the
corpus batch driver plug in here without touching any stage.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from pipeline.frame import Frame
from pipeline.media import VideoInfo


class Source(Protocol):
    """Frames in presentation order. ``info`` is valid after ``open``."""

    info: VideoInfo
    live: bool  # True: unbounded and real time; the runner drops frames when behind

    def open(self) -> VideoInfo: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """Receives processed frames in order; ``close(ok)`` commits (ok=True) or discards the output."""

    def open(self, info: VideoInfo) -> None: ...

    def write(self, frame: Frame) -> None: ...

    def close(self, ok: bool) -> None: ...
