"""Face geometry shared by every stage that aligns: the mean face, the crop convention, Umeyama,
and the crop and frame arithmetic several stages do alike (the region a crop covers, a similarity's
scale, the longest-side downscale), so each is written once and gives the same pixels everywhere.

``extract`` writes crops with these constants and the swap stage later re-aligns frames with the
same ones, so a model sees faces framed exactly as in training. Changing a constant here changes
the faceset format: bump ``TEMPLATE_NAME`` when you do.

Coordinates: the 68-point iBUG/300-W layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67). ``MEAN_FACE`` is in template units: jaw-to-jaw width 1 (x in [0, 1]), y down from
the top of the brows (0) to the chin (about 1.02). It is the symmetrised generalised-Procrustes
mean of landmarks measured on the test media's frontal faces (13 people), eyes levelled.
"""

from __future__ import annotations

import numpy as np

TEMPLATE_NAME = "ibug68-mean-v1"

MEAN_FACE = np.array([
    (0.0013, 0.2297), (0.0000, 0.3599), (0.0116, 0.4900), (0.0360, 0.6192),
    (0.0826, 0.7420), (0.1573, 0.8504), (0.2532, 0.9397), (0.3683, 1.0051),
    (0.5000, 1.0246), (0.6317, 1.0051), (0.7468, 0.9397), (0.8427, 0.8504),
    (0.9174, 0.7420), (0.9640, 0.6192), (0.9884, 0.4900), (1.0000, 0.3599),
    (0.9987, 0.2297), (0.0827, 0.0925), (0.1432, 0.0276), (0.2320, 0.0000),
    (0.3269, 0.0065), (0.4159, 0.0416), (0.5841, 0.0416), (0.6731, 0.0065),
    (0.7680, 0.0000), (0.8568, 0.0276), (0.9173, 0.0925), (0.5000, 0.1612),
    (0.5000, 0.2410), (0.5000, 0.3195), (0.5000, 0.4009), (0.3932, 0.4740),
    (0.4452, 0.4901), (0.5000, 0.5054), (0.5548, 0.4901), (0.6068, 0.4740),
    (0.1822, 0.2005), (0.2389, 0.1716), (0.3032, 0.1695), (0.3659, 0.2018),
    (0.3026, 0.2123), (0.2382, 0.2142), (0.6341, 0.2018), (0.6968, 0.1695),
    (0.7611, 0.1716), (0.8178, 0.2005), (0.7618, 0.2142), (0.6974, 0.2123),
    (0.2806, 0.6484), (0.3583, 0.6030), (0.4422, 0.5859), (0.5000, 0.5977),
    (0.5578, 0.5859), (0.6417, 0.6030), (0.7194, 0.6484), (0.6456, 0.7349),
    (0.5634, 0.7723), (0.5000, 0.7789), (0.4366, 0.7723), (0.3544, 0.7349),
    (0.3106, 0.6512), (0.4416, 0.6367), (0.5000, 0.6415), (0.5584, 0.6367),
    (0.6894, 0.6512), (0.5604, 0.7035), (0.5000, 0.7102), (0.4396, 0.7035),
], dtype=np.float64)

# Points used to fit the similarity: brows, nose, eyes, mouth. The jaw contour slides with head
# yaw (it follows the silhouette), so fitting to it makes the crop swim when the head turns.
ALIGN_POINTS = np.arange(17, 68)

# Where the crop is centred, in template units. Below the template's middle (0.51) so the
# forehead above the brows fits in the crop as well as the chin.
CROP_CENTER = (0.5, 0.42)

# Default fraction of the crop width spanned by the template's jaw-to-jaw width.
DEFAULT_COVERAGE = 0.7

# Left/right mirror of the 68-point layout: FLIP[i] is the index that point i becomes in a
# horizontally mirrored image.
FLIP_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)

RIGHT_EYE = slice(36, 42)  # the subject's right eye: the left one in the image
LEFT_EYE = slice(42, 48)
OUTER_EYE_CORNERS = (36, 45)  # the inter-ocular distance of the 300-W benchmark
EYE_CORNERS = (36, 39, 42, 45)
BROWS = slice(17, 27)


def umeyama(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Umeyama (1991): closed form via the SVD of the cross-covariance, with the reflection guard,
    so the fit never mirrors a face. Returns a (2, 3) float64 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - src_mean, dst - dst_mean
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    var = (a ** 2).sum() / len(src)
    s = float((d * sign).sum() / var) if scale and var > 0 else 1.0
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = s * rotation
    matrix[:, 2] = dst_mean - s * rotation @ src_mean
    return matrix


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def similarity_scale(matrix: np.ndarray) -> float:
    """The uniform scale of a similarity matrix (the square root of its determinant): crop pixels per
    frame pixel for an aligning one."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def crop_region(inverse: np.ndarray, size: int, shape: tuple[int, ...],
                margin: tuple[int, int]) -> tuple[int, int, int, int]:
    """The frame rectangle x0, y0, x1, y1 that a ``size`` crop covers, mapped back by ``inverse``.

    Its corners' floor and ceiling, grown by ``margin`` (pixels before, after) so interpolation
    reads whole neighbourhoods, clipped to the frame ``shape``; empty (x1 <= x0) off the frame.
    """
    corners = transform(np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64), inverse)
    h, w = shape[:2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - margin[0]
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + margin[1]
    return max(0, x0), max(0, y0), min(w, max(0, x1)), min(h, max(0, y1))


def fit_longest_side(image: np.ndarray, longest: int, enlarge: bool = False) -> np.ndarray:
    """``image`` resized with area averaging so its longer side is ``longest`` (no side below 1 px).

    An image that fits already is returned as it is, unless ``enlarge`` asks for exactly that size.
    """
    import cv2
    h, w = image.shape[:2]
    if not enlarge and max(h, w) <= longest:
        return image
    k = longest / max(h, w)
    return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def template_in_crop(size: int, coverage: float = DEFAULT_COVERAGE) -> np.ndarray:
    """The mean face placed in a ``size`` x ``size`` crop: (68, 2) pixel coordinates."""
    center = np.asarray(CROP_CENTER)
    return (MEAN_FACE - center) * (size * coverage) + size / 2.0


def align_matrix(landmarks: np.ndarray, size: int, coverage: float = DEFAULT_COVERAGE) -> tuple[np.ndarray, np.ndarray]:
    """Frame->crop and crop->frame matrices that put ``landmarks`` onto the mean face."""
    target = template_in_crop(size, coverage)
    matrix = umeyama(np.asarray(landmarks)[ALIGN_POINTS], target[ALIGN_POINTS])
    return matrix, invert(matrix)


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners, the usual face scale for errors and filters."""
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(np.asarray(landmarks[a], np.float64) - landmarks[b]))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def polygon_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 mask of ``shape`` (its first two sides) with the polygon ``points`` filled with 1, drawn at
    quarter-pixel precision: the mouth's and the eyes' outlines are a few pixels across."""
    import cv2

    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points) * 4).astype(np.int32)], 1, cv2.LINE_8, shift=2)
    return mask
