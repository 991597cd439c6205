"""Images an occluder is made from: the source a ``patch`` is cut from, and keyed ``object`` images.

Object photos (a surgical mask, a hand, sunglasses) usually come on a plain light backdrop rather
than with an alpha channel, and product shots are cropped tightly, so the backdrop shows only as
slivers along the border. The key therefore removes only pixels that are close to the backdrop
colour *and* connected to the image border; it never eats a light patch inside the object. The
backdrop colour is the median of the brightest tenth of the border pixels (plain backdrops are light),
or a colour the user names. Images that already have an alpha channel are used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import FacepipeError

# If the key removes more than this share of the image, it has mistaken the object for the backdrop
# (a white object on white): the image is then used unkeyed and the caller warns.
MAX_KEYED_SHARE = 0.6


@dataclass(frozen=True)
class OccluderImage:
    """BGR pixels and an alpha (0..1) cropped to the opaque part; ``keyed`` = share removed by the key."""

    bgr: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w) float32
    path: str
    keyed: float = 0.0
    key_failed: bool = False

    @property
    def aspect(self) -> float:
        return self.bgr.shape[1] / self.bgr.shape[0]


def read_image(path: str, key: str = "occlude.image") -> np.ndarray:
    """Any image OpenCV reads, as uint8 BGR or BGRA; a one-line error for a missing or unreadable file."""
    import cv2
    file = Path(path).expanduser()
    if not file.is_file():
        raise FacepipeError(f"{key} = {path!r}: file not found")
    try:
        data = np.fromfile(file, dtype=np.uint8)
    except OSError as exc:
        raise FacepipeError(f"{key} = {path!r}: cannot read ({exc.strerror})") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise FacepipeError(f"{key} = {path!r}: not an image (OpenCV cannot decode it)")
    if image.dtype != np.uint8:  # 16-bit PNG/TIFF
        image = (image.astype(np.float32) / (65535.0 if image.dtype == np.uint16 else max(1.0, float(image.max()))) * 255.0)
        image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[0] < 4 or image.shape[1] < 4:
        raise FacepipeError(f"{key} = {path!r}: image is too small ({image.shape[1]}x{image.shape[0]} px)")
    return np.ascontiguousarray(image)


def parse_key(key: str) -> tuple[int, int, int] | str:
    """``auto``, ``none`` or a ``#rrggbb`` colour (returned as B, G, R)."""
    text = key.strip().lower()
    if text in ("auto", "none"):
        return text
    if len(text) == 7 and text.startswith("#"):
        try:
            r, g, b = (int(text[i:i + 2], 16) for i in (1, 3, 5))
            return b, g, r
        except ValueError:
            pass
    raise FacepipeError(f"occlude.key = {key!r}: expected auto, none or a colour like '#ffffff'")


def _border(shape: tuple[int, ...]) -> np.ndarray:
    ring = np.zeros(shape[:2], bool)
    ring[0], ring[-1], ring[:, 0], ring[:, -1] = True, True, True, True
    return ring


def key_backdrop(bgr: np.ndarray, tolerance: float, colour: tuple[int, int, int] | None = None) -> np.ndarray:
    """Alpha (float32 0..1): 0 on backdrop-coloured pixels connected to the border, 1 elsewhere.

    ``tolerance`` is a distance in OpenCV's 8-bit Lab (about 2.5 units per CIE L* unit).
    """
    import cv2
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    ring = _border(bgr.shape)
    if colour is None:
        border = lab[ring]
        bright = border[border[:, 0] >= np.percentile(border[:, 0], 90)]
        backdrop = np.median(bright, axis=0)
    else:
        backdrop = cv2.cvtColor(np.uint8([[colour]]), cv2.COLOR_BGR2LAB).astype(np.float32)[0, 0]
    close = (np.linalg.norm(lab - backdrop, axis=2) <= tolerance).astype(np.uint8)
    _, labels = cv2.connectedComponents(close, connectivity=4)
    touching = np.unique(labels[ring & (close > 0)])
    background = np.isin(labels, touching) & (close > 0)
    opaque = (~background).astype(np.uint8)
    # Drop the one-pixel halo of backdrop colour that JPEG leaves around the object, then soften.
    opaque = cv2.erode(opaque, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(opaque.astype(np.float32), (0, 0), 0.8)


def load_object(path: str, key: str = "auto", tolerance: float = 10.0) -> OccluderImage:
    """An occluder photo with its alpha: the file's own alpha, or the plain backdrop keyed out."""
    image = read_image(path)
    keyed, failed = 0.0, False
    if image.shape[2] == 4:
        bgr = np.ascontiguousarray(image[..., :3])
        alpha = image[..., 3].astype(np.float32) / 255.0
    else:
        bgr = image
        mode = parse_key(key)
        if mode == "none":
            alpha = np.ones(bgr.shape[:2], np.float32)
        else:
            alpha = key_backdrop(bgr, tolerance, None if mode == "auto" else mode)  # type: ignore[arg-type]
            keyed = float((alpha < 0.5).mean())
            if keyed > MAX_KEYED_SHARE:
                alpha, failed = np.ones(bgr.shape[:2], np.float32), True
    ys, xs = np.nonzero(alpha > 0.02)
    if ys.size == 0:
        raise FacepipeError(f"occlude.image = {path!r}: the image is fully transparent")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return OccluderImage(np.ascontiguousarray(bgr[y0:y1, x0:x1]), np.ascontiguousarray(alpha[y0:y1, x0:x1]),
                         str(path), keyed, failed)


def load_source(path: str) -> OccluderImage:
    """A patch source: the whole image, opaque (patches are cut from it, not keyed)."""
    image = read_image(path)[..., :3]
    return OccluderImage(np.ascontiguousarray(image), np.ones(image.shape[:2], np.float32), str(path))


def black_bar() -> OccluderImage:
    """The built-in object when no image is given: an opaque black bar, 4:1 (the classic eye bar)."""
    bgr = np.zeros((32, 128, 3), np.uint8)
    return OccluderImage(bgr, np.ones((32, 128), np.float32), "<bar>")
