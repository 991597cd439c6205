"""``--preview side-by-side``: the input beside the output in one video, for judging a swap by eye.

A first stage keeps a copy of each decoded frame; the sink wrapper writes [input | output] frames at
twice the width. Neither touches the face stages.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.frame import Frame
from pipeline.io import Sink
from pipeline.videoinfo import VideoInfo
from pipeline.stage import Stage


class KeepOriginal(Stage):
    """Copies the decoded image into ``frame.meta['original']`` before any stage changes it."""

    name = "keep-original"

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            frame.meta["original"] = frame.image.copy()
        return batch


class SideBySideSink:
    """Wraps a sink: writes the original and the processed frame next to each other."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner

    def open(self, info: VideoInfo) -> None:
        self.inner.open(dataclasses.replace(info, width=info.width * 2))

    def write(self, frame: Frame) -> None:
        original = frame.meta.get("original", frame.image)
        joined = np.hstack([original, frame.image])
        self.inner.write(dataclasses.replace(frame, image=joined))

    def close(self, ok: bool) -> None:
        self.inner.close(ok)
