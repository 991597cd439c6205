"""Occluders drawn onto one face: where (regions), how much (levels) and what (patch, block, noise, object).

Why it is built this way:

* A **region** is a convex polygon in frame pixels: the face box, or a rectangle of the mean face
  (``stages.faces.geometry.MEAN_FACE`` units) carried onto the face by a similarity fitted to its
  landmarks, so an eye bar follows head roll and scale. The lower face (surgical-mask area) is a
  3x3 grid on the jaw line instead, so a mask follows a turned head. Every occluder is multiplied by
  the region's exact pixel mask (pixel centres inside the polygon): nothing outside is ever written.
* Positions are parameters in the region's own (u, v) square, drawn from a seeded generator in a
  fixed order, so a run is reproducible and the attack can search them.
* **Levels** 1-5 grade the share of the region covered, as DeeperForensics grades its distortions;
  the ``block`` kind uses DeeperForensics' own scale (16 x level grey 8x8 blocks). A level draws the
  same random numbers as every other level, so a higher level covers a superset of block positions
  and a larger rectangle at the same place.
* Everything is drawn into a region of interest (ROI) copy, never the whole frame, so an attack query
  costs a few hundred kilobytes of copying whatever the video size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.frame import Face
from stages.faces.geometry import ALIGN_POINTS, MEAN_FACE, transform, umeyama
from pipeline.media.occluder_images import OccluderImage

KINDS = ("patch", "block", "noise", "object")
ANCHORS = ("face", "eyes", "nose", "mouth", "cheek", "lower")
LEVELS = (1, 2, 3, 4, 5)

# Share of the region's area a rectangle covers, per level (patch, noise, object in the face box).
AREA_SHARE = {1: 0.05, 2: 0.10, 3: 0.18, 4: 0.28, 5: 0.40}
# Share of an anchored region's height an object covers (a mask creeping up from the chin to the nose).
OBJECT_SHARE = {1: 0.4, 2: 0.55, 3: 0.7, 4: 0.85, 5: 1.0}
BLOCKS_PER_LEVEL = 16  # DeeperForensics block-wise distortion: 16, 32, 48, 64, 80 blocks
MAX_BLOCKS = BLOCKS_PER_LEVEL * 5
ASPECT_RANGE = (0.6, 1.6)  # width / height of patch and noise rectangles

# Anchored regions in mean-face units (x: jaw to jaw 0..1, y: brows 0 .. chin 1.02), x0, y0, x1, y1.
TEMPLATE_RECTS: dict[str, tuple[float, float, float, float]] = {
    "eyes": (0.06, 0.06, 0.94, 0.30),
    "nose": (0.34, 0.14, 0.66, 0.56),
    "mouth": (0.22, 0.55, 0.78, 0.84),
    "cheek_left": (0.04, 0.30, 0.36, 0.72),  # left in the image (the subject's right cheek)
    "cheek_right": (0.64, 0.30, 0.96, 0.72),
    "lower": (0.0, 0.16, 1.0, 1.05),  # used only when a face has no landmarks
}
# Without landmarks, the mean face is stretched over the detector's box, whose top is above the brows.
BOX_TEMPLATE_TOP, BOX_TEMPLATE_HEIGHT = -0.3, 1.35
# Where an object sits in an anchored region unless searched: v of its top edge's freedom (1 = bottom).
OBJECT_DEFAULT_V = {"lower": 1.0}


@dataclass
class Region:
    """A convex area of the frame with a (u, v) parametrisation by a grid of control points."""

    name: str
    grid: np.ndarray  # (rows, cols, 2) frame points; u runs along columns, v along rows
    polygon: np.ndarray  # (k, 2) convex outline, counter- or clockwise
    source: str  # "landmarks" or "box"

    @property
    def affine(self) -> bool:
        """True when the grid is a parallelogram (one affine map covers it)."""
        return self.grid.shape[:2] == (2, 2)

    def at(self, u: np.ndarray | float, v: np.ndarray | float) -> np.ndarray:
        """Frame points of (u, v) in [0, 1]^2: bilinear in the grid cell."""
        u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
        rows, cols = self.grid.shape[:2]
        fu, fv = np.clip(u, 0, 1) * (cols - 1), np.clip(v, 0, 1) * (rows - 1)
        iu, iv = np.minimum(fu.astype(int), cols - 2), np.minimum(fv.astype(int), rows - 2)
        tu, tv = (fu - iu)[..., None], (fv - iv)[..., None]
        g = self.grid
        top = g[iv, iu] * (1 - tu) + g[iv, iu + 1] * tu
        bottom = g[iv + 1, iu] * (1 - tu) + g[iv + 1, iu + 1] * tu
        return top * (1 - tv) + bottom * tv

    def size(self) -> tuple[float, float]:
        """Width and height in frame pixels (mean lengths of the u and v sides)."""
        g = self.grid
        width = 0.5 * (_polyline_length(g[0]) + _polyline_length(g[-1]))
        height = 0.5 * (_polyline_length(g[:, 0]) + _polyline_length(g[:, -1]))
        return width, height

    def bounds(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Pixel rectangle x0, y0, x1, y1 (end exclusive) holding every pixel of the region, in the frame."""
        h, w = shape[:2]
        low, high = self.polygon.min(axis=0), self.polygon.max(axis=0)
        x0, y0 = max(0, int(np.ceil(low[0]))), max(0, int(np.ceil(low[1])))
        x1, y1 = min(w, int(np.floor(high[0])) + 1), min(h, int(np.floor(high[1])) + 1)
        return x0, y0, max(x0, x1), max(y0, y1)

    def mask(self, roi: tuple[int, int, int, int]) -> np.ndarray:
        """Bool mask over ``roi``: pixel centres inside (or on) the polygon."""
        return polygon_mask(self.polygon, roi)

    def record(self) -> dict[str, Any]:
        return {"anchor": self.name, "region_from": self.source,
                "region": np.round(self.polygon, 2).tolist()}


def _polyline_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def polygon_mask(polygon: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """Exact inside test of pixel centres against a convex polygon (half-planes), over ``roi``."""
    x0, y0, x1, y1 = roi
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    poly = np.asarray(polygon, np.float64)
    area2 = np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    sign = 1.0 if area2 >= 0 else -1.0
    inside = np.ones((y1 - y0, x1 - x0), bool)
    eps = 1e-9
    for (ax, ay), (bx, by) in zip(poly, np.roll(poly, -1, axis=0)):
        inside &= sign * ((bx - ax) * (ys - ay) - (by - ay) * (xs - ax)) >= -eps
    return inside


def convex_hull(points: np.ndarray) -> np.ndarray:
    import cv2
    hull = cv2.convexHull(np.asarray(points, np.float32))
    return hull.reshape(-1, 2).astype(np.float64)


def _rect_grid(corners: np.ndarray) -> np.ndarray:
    """(4, 2) corners top-left, top-right, bottom-right, bottom-left -> (2, 2, 2) grid."""
    return np.array([[corners[0], corners[1]], [corners[3], corners[2]]], np.float64)


def _template_to_frame(face: Face) -> tuple[np.ndarray, str]:
    """(2, 3) map from mean-face units to frame pixels: fitted to landmarks, else stretched on the box."""
    if face.landmarks is not None:
        return umeyama(MEAN_FACE[ALIGN_POINTS], np.asarray(face.landmarks, np.float64)[ALIGN_POINTS]), "landmarks"
    x0, y0, x1, y1 = (float(v) for v in face.box)
    sy = (y1 - y0) / BOX_TEMPLATE_HEIGHT
    return np.array([[x1 - x0, 0.0, x0], [0.0, sy, y0 - BOX_TEMPLATE_TOP * sy]]), "box"


def _lower_grid(landmarks: np.ndarray) -> np.ndarray:
    """3x3 grid over nose bridge, cheeks, mouth and chin, following the jaw (a surgical mask's area)."""
    p = np.asarray(landmarks, np.float64)
    mouth = 0.5 * (p[62] + p[66])
    top = [p[1], p[28], p[15]]
    middle = [p[4], mouth, p[12]]
    chin_down = 0.06 * (p[8] - p[28])  # a mask wraps a little under the chin
    bottom = [p[6] + chin_down, p[8] + chin_down, p[10] + chin_down]
    return np.array([top, middle, bottom], np.float64)


def face_region(face: Face, anchor: str, side: int) -> Region:
    """The region of ``face`` named by ``anchor``; ``side`` (0/1) picks the cheek."""
    if anchor == "face":
        x0, y0, x1, y1 = (float(v) for v in face.box)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return Region("face", _rect_grid(corners), corners, "box")
    if anchor == "lower" and face.landmarks is not None:
        grid = _lower_grid(face.landmarks)
        return Region("lower", grid, convex_hull(grid.reshape(-1, 2)), "landmarks")
    name = ("cheek_left", "cheek_right")[side] if anchor == "cheek" else anchor
    tx0, ty0, tx1, ty1 = TEMPLATE_RECTS[name]
    matrix, source = _template_to_frame(face)
    corners = transform(np.array([[tx0, ty0], [tx1, ty0], [tx1, ty1], [tx0, ty1]]), matrix)
    return Region(name, _rect_grid(corners), corners, source)


@dataclass
class Placement:
    """Every random choice of one occlusion, all in [0, 1] (aspect excepted), drawn in a fixed order."""

    pos: np.ndarray  # (2,) where the rectangle sits in the room the region leaves it
    aspect: float  # width / height of patch and noise rectangles
    src: np.ndarray  # (2,) where a patch is cut from its source image
    blocks: np.ndarray  # (MAX_BLOCKS, 2) block centres in region (u, v)

    def record(self) -> dict[str, Any]:
        return {"pos": np.round(self.pos, 4).tolist(), "aspect": round(float(self.aspect), 4)}


def draw_placement(rng: np.random.Generator) -> Placement:
    pos = rng.random(2)
    aspect = float(np.exp(rng.uniform(np.log(ASPECT_RANGE[0]), np.log(ASPECT_RANGE[1]))))
    src = rng.random(2)
    blocks = rng.random((MAX_BLOCKS, 2))
    return Placement(pos, aspect, src, blocks)


def mutate(placement: Placement, rng: np.random.Generator, sigma: float) -> Placement:
    """A nearby placement: positions moved by ~``sigma`` of the free room, a quarter of the blocks moved."""
    pos = np.clip(placement.pos + rng.normal(0.0, sigma, 2), 0.0, 1.0)
    aspect = float(np.clip(placement.aspect * np.exp(rng.normal(0.0, sigma)), *ASPECT_RANGE))
    src = np.clip(placement.src + rng.normal(0.0, sigma, 2), 0.0, 1.0)
    blocks = placement.blocks.copy()
    moved = rng.random(MAX_BLOCKS) < 0.25
    blocks[moved] = np.clip(blocks[moved] + rng.normal(0.0, sigma, (int(moved.sum()), 2)), 0.0, 1.0)
    return Placement(pos, aspect, src, blocks)


@dataclass
class Occluder:
    """What is drawn: the kind and its material (images, grey, noise)."""

    kind: str
    image: OccluderImage | None = None  # patch source or object image
    grey: int = 128
    noise_sigma: float = 64.0
    block_size: int = 8

    def rectangle(self, region: Region, level: int, placement: Placement, searched: bool) -> tuple[float, float, float, float]:
        """The occluder's (u0, v0, u1, v1) in the region's square (blocks: the whole square)."""
        if self.kind == "block":
            return 0.0, 0.0, 1.0, 1.0
        if self.kind == "object" and region.name != "face":
            # Full width of the anchored region; the level sets how far up it reaches.
            dv = OBJECT_SHARE[level]
            v = placement.pos[1] if searched else OBJECT_DEFAULT_V.get(region.name, 0.5)
            v0 = float(v) * (1.0 - dv)
            return 0.0, v0, 1.0, v0 + dv
        width, height = region.size()
        aspect = self.image.aspect if self.kind == "object" and self.image is not None else placement.aspect
        area = AREA_SHARE[level] * width * height
        w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
        if w > width:
            w, h = width, min(height, area / max(width, 1e-6))
        if h > height:
            h, w = height, min(width, area / max(height, 1e-6))
        du, dv = w / max(width, 1e-6), h / max(height, 1e-6)
        u0, v0 = placement.pos[0] * (1.0 - du), placement.pos[1] * (1.0 - dv)
        return float(u0), float(v0), float(u0 + du), float(v0 + dv)


@dataclass
class Drawn:
    """One occlusion drawn into a ROI copy: the composited pixels and the alpha that made them."""

    roi: tuple[int, int, int, int]
    image: np.ndarray  # (h, w, 3) uint8, the ROI after occlusion
    alpha: np.ndarray  # (h, w) float32, 0 where untouched
    rect: tuple[float, float, float, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def pixels(self) -> int:
        return int(np.count_nonzero(self.alpha))

    def box(self) -> list[int] | None:
        """Frame pixel box x0, y0, x1, y1 (end exclusive) of what was written, or None."""
        ys, xs = np.nonzero(self.alpha)
        if ys.size == 0:
            return None
        x0, y0 = self.roi[:2]
        return [int(x0 + xs.min()), int(y0 + ys.min()), int(x0 + xs.max() + 1), int(y0 + ys.max() + 1)]


def draw(occluder: Occluder, region: Region, level: int, placement: Placement, base: np.ndarray,
         roi: tuple[int, int, int, int], region_mask: np.ndarray, noise: np.ndarray | None = None,
         searched: bool = False) -> Drawn:
    """Draw one occlusion on a copy of ``base`` (the frame's ``roi``); ``region_mask`` bounds it."""
    rect = occluder.rectangle(region, level, placement, searched)
    extra: dict[str, Any] = {}
    if occluder.kind == "block":
        alpha = _blocks(region, level, placement, roi, occluder.block_size)
        content = np.full(base.shape, occluder.grey, np.uint8)
    elif occluder.kind == "noise":
        alpha = _footprint(region, rect, roi)
        content = noise if noise is not None else np.full(base.shape, occluder.grey, np.uint8)
    elif occluder.kind == "patch":
        assert occluder.image is not None, "patch needs a source image"
        window = _source_window(occluder.image, region, rect, placement)
        extra["source"] = [round(v, 2) for v in window]
        content, alpha = _warp_into(occluder.image, window, region, rect, roi, with_alpha=False)
    else:
        assert occluder.image is not None, "object needs an image"
        h, w = occluder.image.bgr.shape[:2]
        content, alpha = _warp_into(occluder.image, (0.0, 0.0, float(w), float(h)), region, rect, roi, with_alpha=True)
    alpha = alpha * region_mask
    return Drawn(roi, composite(base, content, alpha), alpha.astype(np.float32), rect, extra)


def composite(base: np.ndarray, content: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha`` x content + (1 - alpha) x base, rounded; pixels with alpha 0 keep their exact value."""
    out = base.copy()
    ys, xs = np.nonzero(alpha)
    if ys.size == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = alpha[y0:y1, x0:x1, None].astype(np.float32)
    mixed = content[y0:y1, x0:x1].astype(np.float32) * a + base[y0:y1, x0:x1].astype(np.float32) * (1.0 - a)
    touched = a[..., 0] > 0
    out[y0:y1, x0:x1][touched] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)[touched]
    return out


def _blocks(region: Region, level: int, placement: Placement, roi: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Grey blocks (axis-aligned, ``size`` px, as DeeperForensics) at the first 16 x level block centres."""
    x0, y0, x1, y1 = roi
    width, height = region.size()
    # DeeperForensics multiplies the count by the picture's shorter side // 256; here the region's.
    scale = max(1, int(min(width, height)) // 256)
    count = BLOCKS_PER_LEVEL * level
    alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
    for k in range(scale):  # further sets of centres: the drawn ones shifted by an irrational step
        uv = (placement.blocks[:count] + k * np.array([0.6180339887, 0.3819660113])) % 1.0
        for cx, cy in region.at(uv[:, 0], uv[:, 1]):
            bx, by = int(np.floor(cx - size / 2)) - x0, int(np.floor(cy - size / 2)) - y0
            alpha[max(0, by):max(0, by + size), max(0, bx):max(0, bx + size)] = 1.0
    return alpha


def _cells(rect: tuple[float, float, float, float], region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Subdivision of ``rect`` into cells: (n+1, n+1) (u, v) points and their frame points."""
    n = 1 if region.affine else 4
    u0, v0, u1, v1 = rect
    us, vs = np.meshgrid(np.linspace(u0, u1, n + 1), np.linspace(v0, v1, n + 1))
    return np.stack([us, vs], axis=-1), region.at(us, vs)


def _footprint(region: Region, rect: tuple[float, float, float, float], roi: tuple[int, int, int, int]) -> np.ndarray:
    """Float mask of the rectangle's image in the frame, over ``roi``."""
    import cv2
    _, frame_pts = _cells(rect, region)
    x0, y0, x1, y1 = roi
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for quad in _cell_quads(frame_pts):
        pts = np.round((quad - [x0, y0]) * 16).astype(np.int32)
        cv2.fillConvexPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(np.float32)


def _cell_quads(points: np.ndarray) -> list[np.ndarray]:
    n = points.shape[0] - 1
    return [np.array([points[i, j], points[i, j + 1], points[i + 1, j + 1], points[i + 1, j]])
            for i in range(n) for j in range(n)]


def _source_window(image: OccluderImage, region: Region, rect: tuple[float, float, float, float],
                   placement: Placement) -> tuple[float, float, float, float]:
    """The rectangle x0, y0, x1, y1 of the source image a patch is cut from (same pixel size if it fits)."""
    width, height = region.size()
    w, h = (rect[2] - rect[0]) * width, (rect[3] - rect[1]) * height
    sh, sw = image.bgr.shape[:2]
    shrink = max(1.0, w / sw, h / sh)
    cw, ch = w / shrink, h / shrink
    sx, sy = placement.src[0] * (sw - cw), placement.src[1] * (sh - ch)
    return float(sx), float(sy), float(sx + cw), float(sy + ch)


def _warp_into(image: OccluderImage, window: tuple[float, float, float, float], region: Region,
               rect: tuple[float, float, float, float], roi: tuple[int, int, int, int],
               with_alpha: bool) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``window`` of an image onto ``rect`` of the region, cell by cell: (content, alpha) over ``roi``."""
    import cv2
    x0, y0, x1, y1 = roi
    shape = (y1 - y0, x1 - x0)
    content = np.zeros((*shape, 3), np.uint8)
    alpha = np.zeros(shape, np.float32)
    uv, frame_pts = _cells(rect, region)
    u0, v0, u1, v1 = rect
    wx0, wy0, wx1, wy1 = window
    # image coordinates of the cell points: pixel centres, so the window's edge is at -0.5
    img_x = wx0 - 0.5 + (uv[..., 0] - u0) / max(u1 - u0, 1e-9) * (wx1 - wx0)
    img_y = wy0 - 0.5 + (uv[..., 1] - v0) / max(v1 - v0, 1e-9) * (wy1 - wy0)
    img_pts = np.stack([img_x, img_y], axis=-1)
    for tri_img, tri_frame in _triangles(img_pts, frame_pts, region.affine):
        local = tri_frame - [x0, y0]
        bx0, by0 = np.maximum(np.floor(local.min(axis=0)).astype(int) - 1, 0)
        bx1, by1 = np.minimum(np.ceil(local.max(axis=0)).astype(int) + 2, [shape[1], shape[0]])
        if bx1 <= bx0 or by1 <= by0:
            continue
        matrix = cv2.getAffineTransform(tri_img[:3].astype(np.float32), (local[:3] - [bx0, by0]).astype(np.float32))
        size = (int(bx1 - bx0), int(by1 - by0))
        warped = cv2.warpAffine(image.bgr, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if with_alpha:
            a = cv2.warpAffine(image.alpha, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        else:
            a = np.ones(size[::-1], np.float32)
        inside = np.zeros(size[::-1], np.uint8)
        cv2.fillConvexPoly(inside, np.round((local - [bx0, by0]) * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
        sel = inside.astype(bool)
        content[by0:by1, bx0:bx1][sel] = warped[sel]
        alpha[by0:by1, bx0:bx1][sel] = a[sel]
    return content, alpha


def _triangles(img_pts: np.ndarray, frame_pts: np.ndarray, affine: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pieces with one affine map each: whole cells when the region is affine, else two triangles per cell."""
    pieces = []
    for a, b in zip(_cell_quads(img_pts), _cell_quads(frame_pts)):
        if affine:
            pieces.append((a, b))
        else:
            pieces.append((a[[0, 1, 2]], b[[0, 1, 2]]))
            pieces.append((a[[0, 2, 3]], b[[0, 2, 3]]))
    return pieces


def noise_field(rng: np.random.Generator, shape: tuple[int, int], grey: int, sigma: float) -> np.ndarray:
    """Gaussian noise around ``grey`` (uint8, (h, w, 3)) for the ``noise`` kind."""
    return np.clip(rng.normal(grey, sigma, (*shape, 3)) + 0.5, 0, 255).astype(np.uint8)
