"""Photos in and out: a source of photos, a sink that writes one photo, and every Nth frame of a source.

Photos are independent shots, so each is flagged as a scene cut (the detect stage then starts new
tracks and the landmark filter does not blend two people). Each frame carries its own file in
``frame.meta["source"]`` so the faceset names crops after the photo, frame 0.

Orientation and colour: OpenCV's decoder applies a JPEG's EXIF orientation, so frames arrive upright
and are written upright with no orientation tag (viewers show the same picture). OpenCV neither
reads nor writes ICC colour profiles; the profile is read with Pillow (when installed) and written
back into the output photo, so a wide-gamut photo keeps its colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.media.atomic import write_image
from pipeline.media.shape import fit_size
from pipeline.videoinfo import VideoInfo


def read_icc(path: str | Path) -> bytes | None:
    """The photo's embedded ICC colour profile, or None (none embedded, or Pillow not installed)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(path) as image:
            return image.info.get("icc_profile") or None
    except Exception:  # noqa: BLE001 - a profile we cannot read is a profile we do not keep
        return None


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

    def __init__(self, paths: list[Path], name: str, size: tuple[int, int] | None = None) -> None:
        if not paths:
            raise FacepipeError(f"{name}: no images")
        self.paths = list(paths)
        self.name = name
        self.size = size  # resize each photo (``--size``); None keeps it
        self.info: VideoInfo | None = None

    def _read(self, path: Path) -> np.ndarray:
        image = read_image(path)
        if self.size:
            h, w = image.shape[:2]
            target = fit_size(w, h, self.size)
            if target != (w, h):
                shrink = target[0] * target[1] < w * h
                image = cv2.resize(image, target, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        return image

    def open(self) -> VideoInfo:
        first = self._read(self.paths[0])
        h, w = first.shape[:2]
        self.info = VideoInfo(path=self.name, width=w, height=h, fps=1.0, frame_count=len(self.paths),
                              duration=float(len(self.paths)))
        return self.info

    def frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            meta = {"source": str(path), "source_frame": 0, "scene_cut": True}
            yield Frame(index=index, pts=float(index), image=self._read(path), meta=meta)

    def close(self) -> None:
        pass


class PhotoSink:
    """Writes the first frame it gets as a photo (format from the extension), atomically, on success."""

    def __init__(self, output: str | Path, icc_profile: bytes | None = None) -> None:
        self.output = Path(output)
        self.icc_profile = icc_profile
        self._image: np.ndarray | None = None

    def open(self, info: VideoInfo) -> None:
        self._image = None

    def write(self, frame: Frame) -> None:
        if self._image is None:
            self._image = frame.image

    def close(self, ok: bool) -> None:
        if not ok:
            return
        if self._image is None:
            raise FacepipeError("no frame to write; output not created")
        if not write_image(self.output, self._image, icc_profile=self.icc_profile):
            raise FacepipeError(f"cannot encode {self.output.suffix} with OpenCV; use .jpg, .png or .webp")


class EveryNth:
    """Passes on frames whose index is a multiple of ``n`` (``extract --every``) and whose source
    frame is ``first`` or later (a resumed extract skips what it already did)."""

    def __init__(self, source, n: int, first: int = 0) -> None:
        self.source = source
        self.n = max(1, int(n))
        self.first = int(first)
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
            if frame.index % self.n == 0 and int(frame.meta.get("source_frame", frame.index)) >= self.first:
                yield frame

    def close(self) -> None:
        self.source.close()
