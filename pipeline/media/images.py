"""Two small sources for ``extract``: a folder of photos, and every Nth frame of another source.

Photos are independent shots, so each is flagged as a scene cut (the detect stage then starts new
tracks and the landmark filter does not blend two people). Each frame carries its own file in
``frame.meta["source"]`` so the faceset names crops after the photo, frame 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.videoinfo import VideoInfo



def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image (grey and alpha converted); one-line error when unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FacepipeError(f"cannot read image {path}")
    return np.ascontiguousarray(image)


class ImageSource:
    """Photos as a sequence of unrelated frames."""

    live = False

    def __init__(self, paths: list[Path], name: str) -> None:
        if not paths:
            raise FacepipeError(f"{name}: no images")
        self.paths = list(paths)
        self.name = name
        self.info: VideoInfo | None = None

    def open(self) -> VideoInfo:
        first = read_image(self.paths[0])
        h, w = first.shape[:2]
        self.info = VideoInfo(path=self.name, width=w, height=h, fps=1.0, frame_count=len(self.paths),
                              duration=float(len(self.paths)))
        return self.info

    def frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            meta = {"source": str(path), "source_frame": 0, "scene_cut": True}
            yield Frame(index=index, pts=float(index), image=read_image(path), meta=meta)

    def close(self) -> None:
        pass


class EveryNth:
    """Passes on frames whose index is a multiple of ``n`` (``extract --every``)."""

    def __init__(self, source, n: int) -> None:
        self.source = source
        self.n = max(1, int(n))
        self.live = bool(getattr(source, "live", False))

    @property
    def info(self) -> VideoInfo | None:
        return self.source.info

    @property
    def warnings(self) -> list[str]:
        return list(getattr(self.source, "warnings", []))

    def open(self) -> VideoInfo:
        return self.source.open()

    def frames(self) -> Iterator[Frame]:
        for frame in self.source.frames():
            if frame.index % self.n == 0:
                yield frame

    def close(self) -> None:
        self.source.close()
