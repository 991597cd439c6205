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


# 268 Mpx (16384 x 16384, 800 MB as BGR): past it a photo is refused from its header, before OpenCV allocates
# (its own limit, CV_IO_MAX_IMAGE_PIXELS = 1 Gpx, ends in a cv2.error, and libpng prints to stderr)
MAX_IMAGE_PIXELS = 1 << 28


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as a PNG's IHDR or a JPEG's SOF marker declares it; None for other formats.

    Read from the header so that a file claiming 60000x60000 px is refused before anything is allocated.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers carry no length
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if at + 9 > len(data):
                return None
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        at += 2 + length
    return None


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image (grey and alpha converted); one-line error when unreadable or too large."""
    data = np.fromfile(str(path), dtype=np.uint8)
    size = declared_size(data[:65536].tobytes())
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise FacepipeError(f"image {path} declares {size[0]}x{size[1]} px, more than the {MAX_IMAGE_PIXELS} px "
                            "facepipe decodes; shrink it first")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # a format whose header we do not read, over OpenCV's limits or corrupt
        image = None
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
