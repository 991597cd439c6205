"""Painting a bank face onto a target crop: a piecewise-affine warp, Reinhard colour and a face mask.

Why piecewise affine (one affine map per Delaunay triangle of the 68 landmarks plus a ring of
border points): it puts every bank landmark exactly on the target's, so the painted eyes, lips and
jaw sit where the target's are and move with them, and it costs one ``cv2.remap``. The triangles
are fixed once, on the mean face, so the mesh never changes topology from frame to frame (a fresh
Delaunay per frame would flip edges and make the skin shimmer). Border points follow the similarity
between the two faces, so outside the face the warp is a plain similarity.

Why Reinhard colour here: the bank was filmed in other light; matching the mean and spread of each
Lab channel inside the face brings its skin to the target's before the blend stage pastes it.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from stages.faces.chroma import pull_within
from stages.faces.geometry import ALIGN_POINTS, BROWS, inter_ocular, template_in_crop, transform, umeyama
from stages.faces.lab_stats import lab_stats

_BORDER_STEPS = 5  # border points per side of the crop (corners shared)


def border_points(size: int) -> np.ndarray:
    """A ring of points just outside a ``size`` crop, so the mesh covers every pixel."""
    t = np.linspace(-1.0, size, _BORDER_STEPS)
    low, high = np.full_like(t, -1.0), np.full_like(t, float(size))
    inner = t[1:-1]
    return np.concatenate([np.stack([t, low], 1), np.stack([t, high], 1),
                           np.stack([np.full_like(inner, -1.0), inner], 1),
                           np.stack([np.full_like(inner, float(size)), inner], 1)])


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(T, 3) point indices of the Delaunay triangles of the mean face plus the border ring.

    OpenCV's ``Subdiv2D``, not scipy's ``Delaunay``: the same 150 triangles, without a third of a
    second of importing ``scipy.spatial`` in every run."""
    import cv2

    size = 256
    points = np.concatenate([template_in_crop(size), border_points(size)])
    division = cv2.Subdiv2D((-2, -2, size + 4, size + 4))
    for x, y in points:
        division.insert((float(x), float(y)))
    triangles = []
    for corners in division.getTriangleList().reshape(-1, 3, 2):
        gaps = np.abs(points[None] - corners[:, None]).sum(axis=2)  # (3, points)
        nearest = gaps.argmin(axis=1)
        if (gaps[np.arange(3), nearest] < 1e-3).all():  # not a triangle on Subdiv2D's outer helper points
            triangles.append(nearest)
    return np.asarray(triangles, np.int32)


def _affines(source: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle the (2, 3) map from target pixels to source pixels, and which are usable (area > 0)."""
    tgt = target[triangles]  # (T, 3, 2)
    src = source[triangles]
    tgt_h = np.concatenate([tgt, np.ones((len(triangles), 3, 1))], axis=2)  # (T, 3, 3): rows x, y, 1
    det = np.linalg.det(tgt_h)
    usable = np.abs(det) > 1e-3
    safe = np.where(usable[:, None, None], tgt_h, np.eye(3))
    # src^T = A @ tgt_h^T  ->  A = src^T @ inv(tgt_h^T)
    return np.einsum("tij,tjk->tik", src.transpose(0, 2, 1), np.linalg.inv(safe.transpose(0, 2, 1))), usable


def warp_maps(bank_points: np.ndarray, target_points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (x, y per target pixel) that take the bank landmarks onto ``target_points``."""
    import cv2

    bank_points = np.asarray(bank_points, np.float64)
    target_points = np.asarray(target_points, np.float64)
    to_bank = umeyama(target_points[ALIGN_POINTS], bank_points[ALIGN_POINTS])
    ring = border_points(size)
    source = np.concatenate([bank_points, transform(ring, to_bank)])
    target = np.concatenate([target_points, ring])
    triangles = mesh_triangles()
    affines, usable = _affines(source, target, triangles)
    labels = triangle_labels(np.round(target[triangles] * 16).astype(np.int32), usable, size)
    table = np.concatenate([affines, to_bank[None]], axis=0).astype(np.float32).reshape(-1, 6)
    # one gather of all six coefficients per pixel (a third of the time of six); label -1 picks the
    # last row: the similarity
    coefficients = np.take(table, labels, axis=0)
    xs, ys = pixel_grid(size)
    map_x = coefficients[..., 0] * xs + coefficients[..., 1] * ys + coefficients[..., 2]
    map_y = coefficients[..., 3] * xs + coefficients[..., 4] * ys + coefficients[..., 5]
    return map_x, map_y


_LABELS: dict[bytes, np.ndarray] = {}
_LABELS_LOCK = threading.Lock()  # a swap may run in more than one thread (live, jobs)
LABELS_KEPT = 4  # rasters kept: one paint warps two or three bank faces and the target onto the same points


def triangle_labels(corners: np.ndarray, usable: np.ndarray, size: int) -> np.ndarray:
    """(size, size) int32: the mesh triangle each target pixel lies in (``corners``: (T, 3, 2) at
    1/16 px), -1 where none (uncovered, or a flat triangle: the similarity's). It depends on the
    target points only, so the warps of one paint share one raster (read-only)."""
    import cv2

    key = corners.tobytes() + usable.tobytes() + size.to_bytes(4, "little")
    with _LABELS_LOCK:
        labels = _LABELS.get(key)
    if labels is None:
        labels = np.full((size, size), -1, np.int32)
        for number in np.flatnonzero(usable):
            cv2.fillConvexPoly(labels, corners[number], int(number), lineType=cv2.LINE_8, shift=4)
        labels.flags.writeable = False
        with _LABELS_LOCK:
            if len(_LABELS) >= LABELS_KEPT:
                del _LABELS[next(iter(_LABELS))]
            _LABELS[key] = labels
    return labels


@functools.lru_cache(maxsize=4)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel of a ``size`` crop, float32 (read-only: shared by every warp)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp_face(bank_crop: np.ndarray, bank_points: np.ndarray, target_points: np.ndarray, size: int,
              maps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The bank crop (any number of channels) warped so its 68 landmarks land on ``target_points``;
    ``maps``: ``warp_maps`` of those points, when the caller has them already."""
    import cv2

    map_x, map_y = warp_maps(bank_points, target_points, size) if maps is None else maps
    return cv2.remap(bank_crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_mask(target_points: np.ndarray, size: int, forehead: float = 0.15, erode: float = 0.015,
              feather: float = 0.03) -> np.ndarray:
    """Float32 (size x size) mask: the landmark hull with the brows raised by ``forehead`` x the
    nose-to-chin length, eroded and feathered (fractions of the crop side) so its soft edge lies inside
    the face, where bank and target skin are both face."""
    import cv2

    points = np.asarray(target_points, np.float64)
    up = points[27] - points[8]
    outline = np.vstack([points[:27], points[BROWS] + forehead * up])
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(outline * 16).astype(np.int32)), 255, cv2.LINE_AA, shift=4)
    radius = int(round(erode * size))
    if radius >= 1:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    sigma = feather * size / 3
    if sigma >= 0.3:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask.astype(np.float32) / 255.0


def skin_mask(points: np.ndarray, size: int, erode: float = 0.05, features: bool = False) -> np.ndarray:
    """Float32 mask of the inner face (landmark hull, no forehead, eroded by ``erode`` x the crop side):
    what colour statistics are measured on. The forehead and the hull's rim hold hair, a fringe or
    background on one face and skin on the other, which would pull the colour match off. With
    ``features=False`` the brows, eyes and lips (their outlines grown by a tenth of the
    inter-ocular distance) are left out too: B's pale blue eyes or red lips would otherwise count as
    skin and the transfer would push them to odd hues (purple eyes, mauve lips) to match."""
    mask = face_mask(points, size, forehead=0.0, erode=erode, feather=0.0)
    return mask if features else without_features(mask, points)


FEATURE_PARTS = (slice(17, 22), slice(22, 27), slice(36, 42), slice(42, 48), slice(48, 60))  # brows, eyes, lips


def without_features(mask: np.ndarray, points: np.ndarray, growth: float | tuple[float, ...] = 0.1) -> np.ndarray:
    """``mask`` (``skin_mask(features=True)``) with the brows, eyes and lips (``FEATURE_PARTS``) cut out,
    their outlines grown by ``growth`` x the inter-ocular distance (one for all, or one per part), as
    ``skin_mask`` does with ``features=False``: a caller that needs both masks erodes the hull once."""
    import cv2

    points = np.asarray(points, np.float64)
    iod = inter_ocular(points)

    def disc(grow: float) -> np.ndarray:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * max(1, int(round(grow * iod))) + 1,) * 2)

    holes = np.zeros(mask.shape[:2], np.uint8)
    for number, part in enumerate(FEATURE_PARTS):
        hull = cv2.convexHull(np.round(points[part] * 16).astype(np.int32))
        if isinstance(growth, tuple):  # each part grown by its own
            hole = np.zeros_like(holes)
            cv2.fillConvexPoly(hole, hull, 1, cv2.LINE_8, shift=4)
            holes |= cv2.dilate(hole, disc(growth[number]))
        else:
            cv2.fillConvexPoly(holes, hull, 1, cv2.LINE_8, shift=4)
    if not isinstance(growth, tuple):  # one dilation of them all: the same, in one pass
        holes = cv2.dilate(holes, disc(growth))
    return mask * (1.0 - holes.astype(np.float32))


def reinhard_map(image: np.ndarray, target: np.ndarray, mask: np.ndarray, spread: float = 1.5,
                 target_stats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ratio, offset) per Lab channel that give ``image`` the Lab mean and spread of ``target`` inside
    ``mask`` (``lab * ratio + offset``; ``target_stats``: ``lab_stats(target, mask)`` when the caller
    has it). The spread ratio is kept within 1/``spread``..``spread``: stretching a flat-lit face's
    contrast to a side-lit one's turns stubble and pores into dirt."""
    if target_stats is None:
        target_stats = lab_stats(target, mask)
    (source_mean, source_std), (target_mean, target_std) = lab_stats(image, mask), target_stats
    ratio = np.clip(target_std / source_std, 1.0 / spread, spread).astype(np.float32)
    return ratio, (target_mean - source_mean * ratio).astype(np.float32)


SHADING_SCALE = 4  # the shading field is worked at 1/4 of the crop side: a blur this wide loses nothing there


def shading_field(image: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Float32 Lab (at 1/``SHADING_SCALE`` of the crop side) of ``image`` blurred by ``sigma`` (crop
    px) as a normalised convolution with ``weights``: the skin's slow light and colour, filled in
    across what ``weights`` leaves out (eyes, brows, lips, background), so no feature shows in it."""
    import cv2

    small = max(8, image.shape[0] // SHADING_SCALE)
    lab = cv2.cvtColor(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
    w = cv2.resize(np.asarray(weights, np.float32), (small, small), interpolation=cv2.INTER_AREA)
    spread = sigma * small / image.shape[0]
    blurred = cv2.GaussianBlur(lab.astype(np.float32) * w[..., None], (0, 0), spread)
    return blurred / np.maximum(cv2.GaussianBlur(w, (0, 0), spread), 1e-3)[..., None]


# largest correction per Lab channel: a hand or hair taken for skin must not paint a patch
SHADING_MOST = (30.0, 10.0, 10.0)


def shading_correction(image: np.ndarray, target: np.ndarray, weights: np.ndarray, sigma: float,
                       ratio: np.ndarray | float = 1.0, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """What moves ``image``'s slow skin light and colour (``shading_field``; with ``ratio`` and ``offset``
    its field as after that Lab map, ``reinhard_map``'s) onto ``target``'s, per Lab channel, at the
    field's size (``apply_colour_and_light`` takes it to the crop), capped by ``SHADING_MOST``.

    Why: Reinhard matches one mean and spread for the whole face, so a bank face filmed front-lit
    stays flat on a side-lit head and its jaw lighter or darker than the neck beside it: the seam and
    the pasted, flat look viewers name. The field is wider than any feature (``sigma`` about a third
    of the inter-ocular distance; narrower at the rim, ``rim_share``) and measured on skin only, so it carries the target's light and
    colour but not its eyes, nose or mouth; the bank face keeps every feature and its texture. (The
    field is a weighted mean, so mapping it equals the field of the mapped image.)"""
    most = np.asarray(SHADING_MOST, np.float32)
    own = shading_field(image, weights, sigma) * ratio + offset
    return np.clip(shading_field(target, weights, sigma) - own, -most, most)


RIM_SHADING = 0.15  # x inter-ocular: the light field's width at the face's rim (``rim_share``), narrower than inside
RIM_BAND = (0.25, 0.45)  # x inter-ocular from the painted hull's outline: the rim's field wholly, then fading to the inner one


def rim_share(points: np.ndarray, size: int) -> np.ndarray:
    """Float32 (0..1) at the shading field's size (``SHADING_SCALE``): 1 within ``RIM_BAND[0]`` of
    the painted hull's outline (jaw, cheeks, forehead), 0 past ``RIM_BAND[1]``, linear between.

    Why two widths: where the face meets the neck and the cheeks' sides, the target's light changes
    over a shorter distance than the inner face's field follows (a jaw in shadow under a lit cheek),
    and B's jaw stayed lighter than the neck beside it. Measured over 120 frames, the seam went from
    2.54 to 2.13 on ``retalking_face5``, 2.25 to 1.85 on ``lp_d18`` and 2.10 to 1.82 on
    ``retalking_face2``. Over the whole face, a field that narrow carries the shading of the target's
    own nose and cheekbones onto B: with 0.2 everywhere, a man painted as ``lp_d19`` read 0.52 from him
    and 0.61 from himself, against 0.49 and 0.65; with the rim's band alone, 0.50 and 0.65."""
    import cv2

    small = max(8, size // SHADING_SCALE)
    factor = small / size
    hull = face_mask(np.asarray(points, np.float64) * factor, small, forehead=0.15, erode=0.0, feather=0.0)
    inside = cv2.distanceTransform((hull > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    depth = inside / max(inter_ocular(points) * factor, 1e-6)
    near, far = RIM_BAND
    return np.clip((far - depth) / (far - near), 0.0, 1.0).astype(np.float32)


def apply_colour_and_light(image: np.ndarray, ratio: np.ndarray, offset: np.ndarray,
                           correction: np.ndarray | None = None,
                           chroma: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """``image`` with its Lab mapped by ``ratio`` and ``offset``, a ``correction`` field (any size;
    brought to the image's by linear resizing) added, and with ``chroma`` = (centre, ceiling) its
    colourfulness held under the ceiling (``chroma.pull_within``): one trip through Lab for all."""
    import cv2

    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32) * ratio + (offset + 0.5)
    if correction is not None:
        lab += cv2.resize(correction, image.shape[:2][::-1], interpolation=cv2.INTER_LINEAR)
    if chroma is not None:
        pull_within(lab, chroma[0] + 0.5, chroma[1])  # the +0.5 rounding rides on the centre as on every pixel
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


SKIN_FLOOR = (6.0, 2.5, 2.5)  # least Lab spread (L, a, b) a skin model assumes: a flat-lit face is not a point


def skin_likelihood(image: np.ndarray, points: np.ndarray, reach: float = 8.0, soft: float = 1.5,
                    skin: np.ndarray | None = None) -> np.ndarray:
    """Float32 (0..1) per pixel: how much its colour is this face's own skin (Lab distance to the
    inner face's mean in units of its spread, lightness counted at half weight so shade stays skin).

    Why: landmarks are not the face's outline. dlib's jaw points often lie a few pixels out in the
    background or the neck, and the hull holds hair, a fringe or a glasses temple; measured on each
    face's own colour, those pixels fall out wherever they are.

    ``reach`` 8 (spreads): at 4 the rim seam fell most (retalking_face5 7.6 -> 4.4, lp_d20 29.6 -> 4.7
    Delta E) but so much cheek was left to the target that lp_d20 painted with lp_d19 read nearer the
    target than B (tests/test_bank_swap.py); at 8 only colours far from skin (a grey or blue backdrop,
    a shirt) fall out."""
    import cv2

    size = image.shape[0]
    mean, std = lab_stats(image, skin_mask(points, size) if skin is None else skin)
    # the squared distance is a sum of one term per channel, so each is a 256-entry table on the 8-bit Lab
    # image (three lookups instead of float arithmetic on every pixel's three channels)
    levels = np.arange(256, dtype=np.float32)[:, None]
    weight = np.array([0.5, 1.0, 1.0], np.float32)
    tables = (((levels - mean) / np.maximum(std, SKIN_FLOOR) * weight) ** 2).astype(np.float32)  # (256, 3)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    squared = sum(cv2.LUT(lab[..., c], np.ascontiguousarray(tables[:, c])) for c in range(3))
    return np.clip((reach - np.sqrt(squared)) / soft, 0.0, 1.0)


BELOW_LIP = 0.06  # x inter-ocular: the core reaches this far below the lower lip's outline


def feature_core(points: np.ndarray, size: int) -> np.ndarray:
    """Bool mask of the hull of brows, eyes, nose and mouth (points 17-67), reaching ``BELOW_LIP``
    under the lower lip: what is painted whatever its colour (eyes, lips and brows are not skin, and
    are the face). dlib's lower-lip outline often lies inside a full lip, and most of all on an open
    mouth: a target's red lipstick below it is no skin, so it was kept, a red lower lip under B's
    (retalking_face5)."""
    import cv2

    points = np.asarray(points, np.float64)
    down = points[57] - points[51]
    down = down / max(float(np.linalg.norm(down)), 1e-6) * BELOW_LIP * inter_ocular(points)
    core = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(np.vstack([points[17:68], points[55:60] + down]) * 16).astype(np.int32))
    cv2.fillConvexPoly(core, hull, 1, cv2.LINE_8, shift=4)
    return core.astype(bool)


def paint_mask(target_points: np.ndarray, size: int, skin: np.ndarray, forehead: float = 0.15,
               erode: float = 0.015, feather: float = 0.03, shaped: np.ndarray | None = None) -> np.ndarray:
    """Float32 (size x size) mask of what is painted: ``face_mask`` times a gate that, outside the
    feature core, is the skin on both faces (``skin``: the minimum of the warped bank face's and the
    target's ``skin_likelihood``). The gate is eroded by the feather before it is blurred, so its soft
    edge stays inside skin: no pixel of B's background, neck or hair is pasted, and the target's hair
    and glasses temples at the rim keep their own pixels; where both faces are skin, the hull is as before.
    ``shaped``: where B's features are painted when they are not on the target's landmarks
    (``bank_shape``); their core is painted too."""
    import cv2

    hull = face_mask(target_points, size, forehead=forehead, erode=erode, feather=feather)
    # the core is not grown: measured on five clips, letting the erosion take the rims of lips and brows
    # where they meet non-skin (the target's own lip or brow edge shows there) gave lower seam, nme and
    # double edges than a core grown past the erosion's reach
    # With ``shaped`` the target's own lips and brows no longer lie under B's: their rims, left to the
    # erosion, showed as a second lip line under the painted mouth (retalking_face5's lipstick), so the
    # core is grown past the erosion's reach then.
    radius = int(round(0.5 * feather * size))
    core = feature_core(target_points, size)
    if shaped is not None:
        core |= feature_core(shaped, size)
        grow = radius + 1
        core = cv2.dilate(core.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)) > 0
    gate = np.where(core, 1.0, np.asarray(skin, np.float32)).astype(np.float32)
    if radius >= 1:  # the gate's own soft edge, eroded first so it ends inside skin
        gate = cv2.erode(gate, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        gate = cv2.GaussianBlur(gate, (2 * radius + 1,) * 2, radius / 3.0)
    mask = hull * gate
    return np.clip(mask, 0.0, 1.0)


BLUR_STEPS = (0.0, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 1.8, 2.2)  # Gaussian sigmas tried, crop pixels (the ratio
# stops falling near 2: a blurrier target gets the last step)


def band_ratio(gray: np.ndarray, weights: np.ndarray, band: float, detail: float) -> float:
    """Energy of the band finer than a sigma-``band`` blur over that of all detail finer than sigma
    ``detail``, inside ``weights``."""
    import cv2

    image = gray.astype(np.float32)
    total = max(float(weights.sum()), 1e-6)
    energy = [float((((image - cv2.GaussianBlur(image, (0, 0), sigma)) ** 2) * weights).sum()) / total
              for sigma in (band, detail)]
    return energy[0] / max(energy[1], 1e-6)


def fine_ratio(gray: np.ndarray, weights: np.ndarray) -> float:
    """``band_ratio`` of the finest band (sigma 1) over the detail finer than sigma 4. Blur takes the
    finest band first, so the ratio falls with blur (monotonically up to a blur of sigma 4) whatever
    the face's contrast or lighting: a sharpness figure two different faces can share."""
    return band_ratio(gray, weights, 1.0, 4.0)


def blur_to_match(image: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """The least Gaussian sigma (of ``BLUR_STEPS``) that leaves ``image`` no sharper than ``target``
    inside ``weights`` (``fine_ratio``): a photo of B pasted into a soft, upscaled or motion-blurred
    frame must be as soft as the frame, or it reads as a sticker."""
    import cv2

    goal = fine_ratio(cv2.cvtColor(target, cv2.COLOR_BGR2GRAY), weights)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for sigma in BLUR_STEPS:
        blurred = cv2.GaussianBlur(gray, (0, 0), sigma) if sigma > 0 else gray
        if fine_ratio(blurred, weights) <= goal:
            return sigma
    return BLUR_STEPS[-1]


COARSE_BLUR_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # Gaussian sigmas tried past the fine band's reach, crop pixels
COARSE_MISMATCH = 2.0  # the coarse ratio must be this many times the target's before it is matched
# (band, detail) sigmas of each coarse octave, crop pixels, and the Gaussian sigmas tried in it
COARSE_OCTAVES = (((2.0, 8.0), COARSE_BLUR_STEPS), ((4.0, 16.0), (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)))


def coarse_ratio(gray: np.ndarray, weights: np.ndarray, octave: tuple[float, float] = (2.0, 8.0)) -> float:
    """``fine_ratio`` an octave coarser (``octave``: the band finer than sigma 2 over the detail finer
    than sigma 8 by default)."""
    return band_ratio(gray, weights, *octave)


def coarse_blur_to_match(image: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """The least Gaussian sigma that leaves ``image`` no sharper than ``target`` at each coarser scale
    (``COARSE_OCTAVES``: sigma 2 over 8, then 4 over 16, ``coarse_ratio``) where ``image`` is at
    least ``COARSE_MISMATCH`` times as sharp there, a coarser octave only when the finer one blurred
    as far as the coarser one's first step (a picture soft at that scale already); the largest of
    them, or 0 when the first octave is not that much sharper.

    Why: ``fine_ratio`` reads only the finest band, and a small face enlarged from soft or
    motion-blurred footage keeps some there (compression blocks, the enlargement's steps), so the
    finest band said a blur of sigma 1.25 matched a crowd's blurred profile while its features were
    blurred over four crop pixels: a sharp eye and smile on a smeared head, the cue a blind judge
    named. Only a large mismatch counts: on sharp footage the two faces' coarse bands differ by who
    they are (stubble, wrinkles), not by the picture's softness. The second octave: a profile smeared
    by motion over more than the first octave reaches still showed B's eye and teeth crisp (the crowd's
    side-on woman: matched at sigma 2 in the first octave, at 3.5 in the second; a blind judge's
    "eye and mouth crisper than the motion-blurred ear and hair")."""
    import cv2

    target_gray = cv2.cvtColor(target, cv2.COLOR_BGR2GRAY)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    softest = 0.0
    for level, (octave, steps) in enumerate(COARSE_OCTAVES):
        if level and softest < steps[0]:
            break  # a coarser octave only where the last one blurred at least as far as this one starts
        goal = coarse_ratio(target_gray, weights, octave)
        if coarse_ratio(gray, weights, octave) < COARSE_MISMATCH * goal:
            break
        softest = max(softest, next((sigma for sigma in steps if coarse_ratio(
            cv2.GaussianBlur(gray, (0, 0), sigma), weights, octave) <= goal), steps[-1]))
    return softest


SHARPEN_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)  # unsharp-mask amounts tried (sigma 1 crop pixel); more made lp_d18 flicker (1.20 at 2.0)


def sharpen_to_match(image: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """The least unsharp-mask amount (of ``SHARPEN_STEPS``, blur sigma 1) that makes ``image`` as
    sharp as ``target`` inside ``weights`` (``fine_ratio``): the mirror of ``blur_to_match``. A bank face
    enlarged onto a larger face, and resampled by the warp, lost its finest band: on ``lp_d18`` and the
    sample the painted face's fine ratio was a third of the footage's, the "waxy, airbrushed" face
    blind viewers named most."""
    import cv2

    goal = fine_ratio(cv2.cvtColor(target, cv2.COLOR_BGR2GRAY), weights)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.0)
    for amount in SHARPEN_STEPS:
        if fine_ratio(gray + amount * detail, weights) >= goal:
            return amount
    return SHARPEN_STEPS[-1]


def sharpen(image: np.ndarray, amount: float) -> np.ndarray:
    """``image`` with ``amount`` x its band finer than a sigma-1 blur added (an unsharp mask)."""
    import cv2

    return cv2.addWeighted(image, 1.0 + amount, cv2.GaussianBlur(image, (0, 0), 1.0), -amount, 0.0)


def fine_std(gray: np.ndarray, weights: np.ndarray) -> float:
    """Robust standard deviation (1.4826 x the median absolute value) of the finest band (image minus
    its sigma-1 blur) where ``weights`` > 0.5: the grain a face shows at this scale, in grey levels.
    The median leaves out the few strong edges (a glasses rim, a wrinkle, a lash) that are structure,
    not grain."""
    import cv2

    image = gray.astype(np.float32)
    fine = np.abs(image - cv2.GaussianBlur(image, (0, 0), 1.0))[weights > 0.5]
    return 1.4826 * float(np.median(fine)) if fine.size else 0.0


GRAIN_MOST = 3.0  # grey levels: beyond this a target's finest band is texture (pores, stubble) noise cannot stand for
GRAIN_CORRELATION = 0.6  # sigma (crop px) of the blur that shapes the grain: camera noise after a codec is not per-pixel white


NOISE_SIDE = 512  # side of the shaped noise field that each frame's grain is cut from (65 000 places for a 256-px crop)


@functools.lru_cache(maxsize=4)
def shaped_noise(correlation: float, side: int = NOISE_SIDE) -> np.ndarray:
    """A ``side``-square field of Gaussian noise blurred by ``correlation`` and scaled so its
    ``fine_std`` is 1 (read-only). Drawn once: a frame's grain is a window of it at a place drawn for
    that frame (``noise_window``), as fresh to the eye as a new draw and without a draw and a blur
    per face."""
    import cv2

    noise = np.random.default_rng(0).standard_normal((side, side)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), correlation)
    noise /= max(fine_std(noise, np.ones_like(noise)), 1e-6)
    noise.flags.writeable = False
    return noise


def noise_window(shape: tuple[int, int], seed: int, correlation: float) -> np.ndarray:
    """A ``shape`` window of ``shaped_noise`` at a place (and a flip) drawn from ``seed``; a crop
    larger than ``NOISE_SIDE`` gets a field of its own size (drawn once too)."""
    field = shaped_noise(correlation, max(NOISE_SIDE, *shape))
    rng = np.random.default_rng(seed)
    y = int(rng.integers(0, field.shape[0] - shape[0] + 1))
    x = int(rng.integers(0, field.shape[1] - shape[1] + 1))
    window = field[y:y + shape[0], x:x + shape[1]]
    return window[::-1] if rng.integers(0, 2) else window


def missing_grain(image: np.ndarray, target: np.ndarray, weights: np.ndarray) -> float:
    """Grey levels of grain ``image`` lacks where ``weights`` is high to be as grainy as ``target``
    (``fine_std``; at most ``GRAIN_MOST``; 0 when it is grainy enough)."""
    import cv2

    gray = lambda picture: cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)  # noqa: E731
    want, have = fine_std(gray(target), weights), fine_std(gray(image), weights)
    missing = min(np.sqrt(max(want ** 2 - have ** 2, 0.0)), GRAIN_MOST)
    return missing if missing >= 0.25 else 0.0


def add_grain(image: np.ndarray, missing: float, weights: np.ndarray, seed: int) -> np.ndarray:
    """``image`` plus ``missing`` grey levels (``missing_grain``) of fresh luminance grain
    (``noise_window``) where ``weights`` is high. A bank face from cleaner footage than the target's
    (or blurred by the warp) reads as waxy, airbrushed skin beside the target's grainy ears and neck.
    The grain is drawn anew for each ``seed`` (frame): real sensor noise is, and a fixed pattern would
    ride on the face. Only the statistics of the target are used, none of its pixels."""
    if missing <= 0.0:
        return image
    noise = noise_window(image.shape[:2], seed, GRAIN_CORRELATION)
    grained = image.astype(np.float32) + (noise * (missing * weights))[..., None]
    return np.clip(grained + 0.5, 0, 255).astype(np.uint8)
