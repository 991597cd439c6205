"""Sources and sinks: the two small interfaces the runner talks to.

A source yields Frames (a video file, a camera, a stream); a sink consumes them (an encoder, a
window, a faceset writer, a corpus writer). The runner does not care which; live sources and the
corpus batch driver plug in here without touching any stage.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo


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


class NullSink:
    """Discards every frame: for runs whose results live on the frames or in the stages (scoring,
    collecting in memory); a sink that keeps something overrides ``write``."""

    def open(self, info: VideoInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        pass

    def close(self, ok: bool) -> None:
        pass


class FanOut:
    """Writes every frame to several sinks (a window, a stream and a recording at once)."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self._opened: list[Sink] = []

    def open(self, info: VideoInfo) -> None:
        try:
            for sink in self.sinks:
                sink.open(info)
                self._opened.append(sink)
        except BaseException:
            self.close(False)
            raise

    def write(self, frame: Frame) -> None:
        for sink in self.sinks:
            sink.write(frame)

    def close(self, ok: bool) -> None:
        errors = []
        for sink in self._opened:
            try:
                sink.close(ok)
            except Exception as exc:  # noqa: BLE001 - close every sink, report the first failure
                errors.append(exc)
        self._opened = []
        if errors:
            raise errors[0]
