"""Artefact measures: what a viewer sees wrong in a swapped clip, each with a threshold that a bad
result turns red (issue 22: identity distance, sharpness ratio and mouth correlation all passed on
swaps a blind viewer caught every time; a number counts only if a bad result turns it red).

Every measure compares an output clip with its source clip frame by frame (same frame count and size:
``pipeline.cli.video_job.run_in_memory`` frames with ``meta['original']``, or two decoded files). The
largest face of each source frame is found once (YuNet) and its 68 points are fitted on the source
*and* re-fitted on the output from the same start with the landmark stage's default dlib backend, so
the two fits differ only by the pixels. Regions come from the source's points: the output is judged
where the source's face is. Calibration figures below: "control" is the source re-encoded with x264 at
the default crf 18 (codec noise plus re-fit jitter; the source compared with itself scores exactly
0, r = 1, ratio 1); "today" is the default ``convert`` output of the unseen clips
lp_d18_man_grey_hoodie_expressions and retalking_face2_man_map_bg_talk (first 48 frames).

* ``nme``: landmark consistency: mean distance of the re-fitted inner-face points (17-67) from the
  source's, over the outer-eye-corner distance, mean over frames. Melted nose or mouth, moved eyes, a
  mouth open where the source's is shut all move points. Max 0.06 (control 0.005-0.006; a trained
  identity measured 0.056; today 0.098-0.105).
* ``double_edges``: the ghosted double outline: the share of the source's outline pixels that show
  through the output without the shape beneath them, see ``ghost_counts``. Max 0.06 (control 0.000;
  the pair GAN with its detail band, the old default, 0.087-0.106).
* ``seam``: colour/luminance step (ΔE*ab) at the painted face's rim, output minus source, the worst of
  chin, either jaw side and forehead; see ``seam_steps``. Max 2.3, the just-noticeable ΔE*ab
  (control 0.39-0.55; today 3.2-4.1).
* ``eye_r`` / ``mouth_r``: Pearson r over frames of eye openness (eye aspect ratio) and mouth openness
  (inner-lip gap over inter-ocular), source fit vs output re-fit, both series smoothed over three
  frames (``smooth3``): the face must blink and speak when the source does. Min 0.6 / 0.7 (control
  0.83-0.93 / 0.998; today 0.41 and -0.26 / 0.37). Not defined (n/a, neither green nor red) under
  ``MIN_SERIES`` frames or when the source's series hardly moves (std below ``EYE_SWING`` /
  ``MOUTH_SWING``): r of two noise series says nothing. Limit: dlib reads an open mouth from the
  dropped chin and a squint from the cheeks too, so a mouth or eyes frozen over a moving chin and
  cheeks re-fit as moving at part amplitude (r about 0.7-0.8 in tests/test_artefacts.py); features
  out of step with the source, as today's, are what these catch.
* ``mouth_gap``: mean |output - source| inner-lip gap over inter-ocular: a mouth open where the
  source's is shut (or the reverse), which r cannot see on a clip where the source's mouth is still.
  Max 0.03 (control 0.003-0.004; today 0.064-0.090). Limit: the re-fit reads the painted person's
  lips and proportions as well as the opening. On ``retalking_face2`` (60 frames) the default's gap
  reads 0.036 under the source's, 0.011 with ``swap.bank_shape = 0``; the opening read from the
  painted crop's pixels (``bank_mouth.seen_opening``) is 15.3 crop px high against the source's 16.0
  (15.0 with shape 0), while the re-fit puts the upper inner lip 5 frame px below where the swap drew
  it (0.4 px with shape 0). So part of a red here, on a face moved to B's proportions, is the
  re-fit's reading of B's lips, not a mouth that opens less.
* ``eye_tone``: the "dark eyes" check: ΔE*ab of the eyes' colour against the face's own skin, output
  (inside its re-fitted eye outlines) minus source, see ``eye_tone``; dark smudged sockets, white
  blotches, purple tint. Max 5 (control 0.7-0.9; today 9.7-10.3). Measured today, the eye interiors
  are *lighter* than the source's (ΔL +5.6 / +9.3: white blotches outweigh the dark smudge), so a
  "darker than the source" test alone would stay green on them; the signed ΔL is in the note.
* ``flicker``: frame-to-frame change inside the painted face, output over source. Max 1.1 (control
  0.92-0.98; today 1.20-1.43).
* ``gaze``: where the eyes look: mean |output - source| position of the iris along each open eye
  (``gaze.read_iris``, in eye widths), over eyes readable in both. A bank face's gaze came with its
  lids: eyes staring into the lens on a target who looks aside. Max GAZE_MAX (see the constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from pipeline.frame import Face
from stages.faces import measures
from stages.faces.gaze import read_iris
from stages.faces.geometry import BROWS, LEFT_EYE, RIGHT_EYE, fit_longest_side, inter_ocular

Landmarker = Callable[[np.ndarray, Face], np.ndarray]
Detector = Callable[[np.ndarray], np.ndarray]

INNER = slice(17, 68)  # brows, nose, eyes, mouth: what a swap paints (the jaw line stays the source's)
FOREHEAD = 0.3  # brows raised by this x nose-bridge-to-chin, as the default strip mask (strip.forehead)
DETECT_SIZE = 640  # longest side the detector sees, as the detect stage's default
MIN_SCORE = 0.6  # the detect stage's default confidence

NME_MAX = 0.06
DOUBLE_EDGES_MAX = 0.06
SEAM_MAX = 2.3
EYE_R_MIN = 0.6
MOUTH_R_MIN = 0.7
MOUTH_GAP_MAX = 0.03
EYE_TONE_MAX = 5.0
FLICKER_MAX = 1.1
GAZE_MAX = 0.06  # eye widths; controls (x264) 0.01-0.02, an iris a fifth of the eye off is plain to see
EYE_SWING = 0.01  # std of the source's (smoothed) eye aspect ratio below which eye r is not defined
MOUTH_SWING = 0.02  # std of the source's (smoothed) lip gap (x inter-ocular) below which mouth r is not defined
MIN_SERIES = 24  # frames an openness series needs for r: 12 frames of a real clip gave r from -0.4 to 0.96

# double edges: scales in frame pixels, relative to the inter-ocular distance (see ghost_counts)
FINE_SIGMA = 1.0
COARSE_SCALE = 0.03  # x inter-ocular: wider than the blend's detail band (about 0.009 x IOD at 128 px)
STRUCTURE = 0.35  # coarse support an edge needs in the source to count as the face's structure
KEPT = 0.5  # the output must keep at least this share of that support under a shown edge
CANNY = (20, 40)

# seam bands, signed distance from the painted hull's outline in inter-ocular units (+ = inside)
SEAM_INSIDE = (0.20, 0.35)  # fully painted: the blend's feathered edge ends about 0.2 inside the hull
SEAM_OUTSIDE = (-0.10, 0.05)  # untouched: the blend paints nothing within 0.1 of the hull


@dataclass(frozen=True)
class Measure:
    """One artefact figure, its threshold and which side of it is bad."""

    name: str
    value: float
    threshold: float
    higher_is_worse: bool
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """True = green, False = red, None = not measurable on this clip (nan: e.g. a still source)."""
        if math.isnan(self.value):
            return None
        return self.value <= self.threshold if self.higher_is_worse else self.value >= self.threshold

    @property
    def verdict(self) -> str:
        return {True: "green", False: "RED", None: "n/a"}[self.passed]

    @property
    def target(self) -> str:
        return f"{'<=' if self.higher_is_worse else '>='} {self.threshold:g}"

    def describe(self) -> str:
        value = "nan" if math.isnan(self.value) else f"{self.value:.3f}"
        note = f"; {self.note}" if self.note else ""
        return f"{self.name} {value} ({self.target}: {self.verdict}{note})"


@dataclass
class FacePair:
    """One frame's face: the source's points and the output's re-fit from the same start."""

    index: int  # frame index in the clip
    source: np.ndarray  # (68, 2) fitted on the source frame
    output: np.ndarray  # (68, 2) re-fitted on the output frame
    scale: float  # inter-ocular distance of the source points (px)
    start: Face = field(repr=False)  # the source's detection both fits started from


@dataclass
class ArtefactReport:
    """All measures of one (output, source) clip pair, and the fits they came from."""

    frames: int
    faces: int
    nme: Measure
    double_edges: Measure
    seam: Measure
    eye_r: Measure
    mouth_r: Measure
    mouth_gap: Measure
    eye_tone: Measure
    flicker: Measure
    gaze: Measure
    pairs: list[FacePair] = field(default_factory=list, repr=False)

    def measures(self) -> list[Measure]:
        return [self.nme, self.double_edges, self.seam, self.eye_r, self.mouth_r, self.mouth_gap,
                self.eye_tone, self.flicker, self.gaze]

    @property
    def passed(self) -> bool:
        """Green overall: no measure red (n/a ones aside) and at least one measured."""
        verdicts = [m.passed for m in self.measures() if m.passed is not None]
        return bool(verdicts) and all(verdicts)


# -- faces -----------------------------------------------------------------------------------------

def default_landmarker() -> Landmarker:
    """The landmark stage's default backend and settings (dlib, 5 starts, 1 refine pass), unsmoothed:
    smoothing would hide the frame-to-frame disagreement being measured."""
    from stages.faces.landmarkers import LANDMARKERS

    return LANDMARKERS.load("dlib")(samples=5, flip=False, refine=1, first_samples=1)


def default_detector() -> Detector:
    from stages.faces.detectors import DETECTORS

    return DETECTORS.load("auto")(1)


def largest_face(image: np.ndarray, detector: Detector) -> Face | None:
    """The largest face YuNet finds at the detect stage's default size and confidence, in frame pixels."""
    small = fit_longest_side(image, DETECT_SIZE)
    scale = image.shape[1] / small.shape[1]
    best: Face | None = None
    for row in detector(small):
        if float(row[0]) < MIN_SCORE:
            continue
        x, y, w, h = row[1:5] * scale
        face = Face(box=np.array([x, y, x + w, y + h], np.float32), score=float(row[0]),
                    points5=(row[5:15].reshape(5, 2) * scale).astype(np.float32))
        if best is None or face.width * face.height > best.width * best.height:
            best = face
    return best


def fit_pairs(outputs: Sequence[np.ndarray], sources: Sequence[np.ndarray], landmarker: Landmarker | None = None,
              detector: Detector | None = None) -> list[FacePair]:
    """Source points and output re-fits for every frame whose source shows a face."""
    _check(outputs, sources)
    landmarker = landmarker or default_landmarker()
    detector = detector or default_detector()
    pairs = []
    for index, (output, source) in enumerate(zip(outputs, sources)):
        face = largest_face(source, detector)
        if face is None:
            continue
        src = np.asarray(landmarker(source, face), np.float64)
        out = np.asarray(landmarker(output, face), np.float64)
        pairs.append(FacePair(index, src, out, inter_ocular(src), face))
    return pairs


def refit(outputs: Sequence[np.ndarray], pairs: list[FacePair], landmarker: Landmarker | None = None) -> list[FacePair]:
    """The same source fits with the output points re-fitted on other output frames: several outputs of
    one source (a control and a swap, or several settings) cost one detection and one source fit."""
    landmarker = landmarker or default_landmarker()
    return [FacePair(p.index, p.source, np.asarray(landmarker(outputs[p.index], p.start), np.float64), p.scale, p.start)
            for p in pairs]


def _check(outputs: Sequence[np.ndarray], sources: Sequence[np.ndarray]) -> None:
    if len(outputs) != len(sources):
        raise ValueError(f"output has {len(outputs)} frames, source {len(sources)}: measure the same frames")
    for output, source in zip(outputs, sources):
        if output.shape != source.shape:
            raise ValueError(f"output frame {output.shape} and source frame {source.shape} differ in size")


# -- regions ---------------------------------------------------------------------------------------

def painted_hull(landmarks: np.ndarray) -> np.ndarray:
    """The outline a swap paints: jaw and brows, the brows raised onto the forehead as the strip mask's."""
    p = np.asarray(landmarks, np.float64)
    up = p[27] - p[8]
    points = np.vstack([p[:27], p[BROWS] + FOREHEAD * up])
    return cv2.convexHull(np.round(points).astype(np.int32))


def _hull_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, painted_hull(landmarks), 1)
    return mask


def painted_region(shape: tuple[int, ...], landmarks: np.ndarray, shrink: float = 0.1) -> np.ndarray:
    """Boolean mask of the painted hull eroded by ``shrink`` x inter-ocular (off the feathered rim)."""
    return _grow(_hull_mask(shape, landmarks), -shrink * inter_ocular(landmarks)).astype(bool)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """Dilate (radius > 0) or erode (< 0) a 0/1 uint8 mask by a disc."""
    k = int(round(abs(radius)))
    if k < 1:
        return mask
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    return cv2.dilate(mask, disc) if radius > 0 else cv2.erode(mask, disc)


def _fill(shape: tuple[int, ...], groups: Sequence[np.ndarray], grow: float = 0.0) -> np.ndarray:
    """Boolean mask of the convex hulls of point groups, grown by ``grow`` px."""
    mask = np.zeros(shape[:2], np.uint8)
    for points in groups:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return _grow(mask, grow).astype(bool)


def eye_region(shape: tuple[int, ...], landmarks: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Inside both eye outlines (lids to lids), grown by ``grow`` x inter-ocular."""
    return _fill(shape, [landmarks[RIGHT_EYE], landmarks[LEFT_EYE]], grow * inter_ocular(landmarks))


def face_window(shape: tuple[int, ...], landmarks: np.ndarray, margin: float = 0.6) -> tuple[slice, slice]:
    """Rows and columns of the painted hull's box grown by ``margin`` x inter-ocular: the only pixels a
    measure needs, so a 1080p frame costs what its face costs."""
    hull = painted_hull(landmarks).reshape(-1, 2)
    pad = margin * inter_ocular(landmarks)
    x0, y0 = np.floor(hull.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(hull.max(axis=0) + pad).astype(int)
    return slice(max(y0, 0), min(y1, shape[0])), slice(max(x0, 0), min(x1, shape[1]))


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image).astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


# -- per-frame measures ----------------------------------------------------------------------------

def nme(source: np.ndarray, output: np.ndarray, points: slice = INNER) -> float:
    """Mean point error of ``output`` against ``source`` over the source's outer-eye-corner distance."""
    error = np.linalg.norm(np.asarray(output, np.float64)[points] - np.asarray(source, np.float64)[points], axis=1)
    return float(error.mean() / max(inter_ocular(source), 1e-6))


def _gradients(grey: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), sigma)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8  # per-pixel slope
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8
    return smooth, gx, gy


def ghost_counts(output: np.ndarray, source: np.ndarray, landmarks: np.ndarray) -> tuple[int, int]:
    """(ghosted, structural) edge pixels of one frame's face: the double outline, counted.

    The blend adds the source's band finer than the model's resolution onto the painted face. Where the
    painted face has the source's shape, the source's edges land on its own edges and nothing shows;
    where it differs (eyes lower, lips elsewhere), the source's eye and lip lines appear a few pixels
    off the painted ones: a double outline. In a real picture an edge is an edge at every scale: a
    sharp edge sits on a smooth step of the same direction. So:

    * the source's *structural* edges: Canny edges (grey blurred by ``FINE_SIGMA``) inside the painted
      region whose coarse gradient (blur ``COARSE_SCALE`` x inter-ocular, beyond the detail band),
      taken along the edge's normal and scaled to the same step height, is at least ``STRUCTURE`` of
      the fine one: the face's outlines, not texture or noise;
    * *shown*: those the output still has as a fine edge (within 1 px, direction within 45 degrees);
    * *ghosted*: shown edges under which the output's coarse gradient has lost more than half
      (``KEPT``) of the source's: a sharp line with no shape beneath it.

    ``double_edges`` is the clip's ghosted / structural: the share of the source's outlines that shows
    as a ghost. (It was ghosted / shown until a swap moved the painted features to B's proportions,
    ``stages/faces/bank_shape.py``: then most source edges no longer show at all, which is the point,
    and the few that still coincide were counted against a shrinking total. On retalking_face2 the
    ghosted pixels of a frame fell from 69 to 39 while ghosted / shown rose from 0.13 to 0.18; over
    48 frames ghosted / structural fell from 0.044 to 0.035. A measure that rises as the artefact
    falls is broken.) A real frame compared with itself has none, and so has it re-encoded with x264
    at crf 18 (0 of about 57 000 shown edges on either calibration clip, 0.000 on lp_d19 in the
    tests). The pair GAN with the blend's detail band (the old default, whose source eye lids and lip
    line over the painted eyes and mouth were the double outline viewers named first) scores 0.106 on
    lp_d18 and 0.087 on retalking_face2 (first 48 frames); the threshold 0.06 sits below both, with
    the bank swap at 0.03-0.04 on those clips and the faded rims of a target's glasses
    (retalking_face5) at 0.11. A swap with no detail band shows no source edges and
    scores 0 (a blurred face too: 0.001 in the tests): its faults are for ``nme``. Scales follow the
    inter-ocular distance, so a face's size does not move the figure.

    Not counted: fine edges the output has where the source has none (an overlay of the face's own
    edges shifted 3 px scored 0.000). A variant that counts those too (output edges without coarse
    support that the source lacks) scored 0.045-0.048 on today's output against 0.006-0.010 on the x264
    control: five times apart, not the twenty-plus of this one, so it was left out.
    """
    rows, cols = face_window(source.shape, landmarks)
    offset = np.array([cols.start, rows.start], np.float64)
    out, src = _grey(output[rows, cols]), _grey(source[rows, cols])
    region = painted_region(src.shape, np.asarray(landmarks) - offset)
    coarse = max(2.0, COARSE_SCALE * inter_ocular(landmarks))
    fine_src, sx, sy = _gradients(src, FINE_SIGMA)
    fine_out, ox, oy = _gradients(out, FINE_SIGMA)
    edges_src = cv2.Canny(np.clip(fine_src, 0, 255).astype(np.uint8), *CANNY, L2gradient=True) > 0
    edges_out = cv2.Canny(np.clip(fine_out, 0, 255).astype(np.uint8), *CANNY, L2gradient=True) > 0
    _, csx, csy = _gradients(src, coarse)
    _, cox, coy = _gradients(out, coarse)
    src_mag = np.hypot(sx, sy) + 1e-6
    nx, ny = sx / src_mag, sy / src_mag
    # a step blurred by sigma has a slope proportional to 1 / sigma: scale so a step scores 1 at both
    src_support = (csx * nx + csy * ny) * (coarse / FINE_SIGMA) / src_mag
    out_support = (cox * nx + coy * ny) * (coarse / FINE_SIGMA) / src_mag
    structural = edges_src & region & (src_support >= STRUCTURE)
    near = cv2.dilate(edges_out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    same_way = (ox * sx + oy * sy) / ((np.hypot(ox, oy) + 1e-6) * src_mag) > math.cos(math.pi / 4)
    shown = structural & near & same_way
    ghosted = shown & (out_support < KEPT * src_support)
    return int(ghosted.sum()), int(structural.sum())


def seam_steps(output: np.ndarray, source: np.ndarray, landmarks: np.ndarray,
               output_landmarks: np.ndarray | None = None) -> dict[str, float]:
    """ΔE*ab of the step across the painted face's rim, output minus source, per side of the face.

    Bands: ``SEAM_INSIDE`` (fully painted) and ``SEAM_OUTSIDE`` (untouched skin, hair or collar) of
    the painted hull, split into chin, left jaw, right jaw (lower cheeks/jaw to neck) and forehead by
    the direction from the nose tip; the cheeks' sides (ears, hair, background) are left out. Eyes,
    brows and mouth (from both fits, grown) are cut out of the bands, so a moved feature is not counted
    as a colour step. Per side: (mean Lab inside - outside) on the output minus the same on the source,
    so the source's own shading (a darker neck) cancels. A side with fewer than 20 pixels in either
    band is left out.
    """
    rows, cols = face_window(source.shape, landmarks)
    offset = np.array([cols.start, rows.start], np.float64)
    lm = np.asarray(landmarks, np.float64) - offset
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    scale = inter_ocular(lm)
    hull = _hull_mask(shape, lm)
    signed = (cv2.distanceTransform(hull, cv2.DIST_L2, 5) - cv2.distanceTransform(1 - hull, cv2.DIST_L2, 5)) / scale
    features = _features(lm)
    if output_landmarks is not None:
        features += _features(np.asarray(output_landmarks, np.float64) - offset)
    keep = ~_fill(shape, features, 0.1 * scale)
    inside = (signed >= SEAM_INSIDE[0]) & (signed < SEAM_INSIDE[1]) & keep
    outside = (signed >= SEAM_OUTSIDE[0]) & (signed < SEAM_OUTSIDE[1]) & keep
    up = lm[27] - lm[8]
    up /= max(np.linalg.norm(up), 1e-6)
    right = np.array([-up[1], up[0]])
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    v = np.stack([xs - lm[30][0], ys - lm[30][1]], axis=-1).astype(np.float64)
    along = (v @ up) / (np.linalg.norm(v, axis=-1) + 1e-6)
    side = v @ right
    sides = {"chin": along < -0.85, "jaw left": (along >= -0.85) & (along < -0.3) & (side < 0),
             "jaw right": (along >= -0.85) & (along < -0.3) & (side >= 0), "forehead": along > 0.7}
    lab_out, lab_src = _lab(output[rows, cols]), _lab(source[rows, cols])
    steps = {}
    for name, part in sides.items():
        a, b = inside & part, outside & part
        if a.sum() < 20 or b.sum() < 20:
            continue
        step = (lab_out[a].mean(axis=0) - lab_out[b].mean(axis=0)) - (lab_src[a].mean(axis=0) - lab_src[b].mean(axis=0))
        steps[name] = float(np.linalg.norm(step))
    return steps


def _features(landmarks: np.ndarray) -> list[np.ndarray]:
    """Eyes, brows and lips: the parts of a face that are not skin."""
    return [landmarks[RIGHT_EYE], landmarks[LEFT_EYE], landmarks[17:22], landmarks[22:27], landmarks[48:60]]


def eye_tone(output: np.ndarray, source: np.ndarray, source_landmarks: np.ndarray,
             output_landmarks: np.ndarray) -> tuple[float, float] | None:
    """(ΔE*ab, ΔL) of the eyes' colour against the face's own skin, output minus source.

    Per frame and picture: mean Lab inside the eye outlines (the output's re-fitted ones on the
    output, the source's on the source) minus the mean Lab of the skin around them (the painted region
    without eyes, brows and lips of either fit). Relative to the skin, so a face patch that is merely
    another colour is the seam's business, not this one's. None when an outline or the skin holds
    fewer than 8 pixels (a shut eye on a tiny face).
    """
    rows, cols = face_window(source.shape, source_landmarks)
    offset = np.array([cols.start, rows.start], np.float64)
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    src_lm, out_lm = np.asarray(source_landmarks) - offset, np.asarray(output_landmarks) - offset
    inside_src, inside_out = eye_region(shape, src_lm), eye_region(shape, out_lm)
    skin = painted_region(shape, src_lm) & ~_fill(shape, _features(src_lm) + _features(out_lm), 0.1 * inter_ocular(src_lm))
    if min(inside_src.sum(), inside_out.sum(), skin.sum()) < 8:
        return None
    lab_out, lab_src = _lab(output[rows, cols]), _lab(source[rows, cols])
    eyes_out = lab_out[inside_out].mean(axis=0) - lab_out[skin].mean(axis=0)
    eyes_src = lab_src[inside_src].mean(axis=0) - lab_src[skin].mean(axis=0)
    return float(np.linalg.norm(eyes_out - eyes_src)), float(eyes_out[0] - eyes_src[0])


def gaze_turns(output: np.ndarray, source: np.ndarray, source_landmarks: np.ndarray,
               output_landmarks: np.ndarray) -> list[float]:
    """|output - source| iris position along each eye (eye widths) readable in both pictures, the
    output read inside its re-fitted outline (``gaze.read_iris``)."""
    turns = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        before, after = read_iris(source, source_landmarks, eye), read_iris(output, output_landmarks, eye)
        if before is not None and after is not None:
            turns.append(abs(after.along - before.along))
    return turns


def frame_change(previous: np.ndarray, current: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean absolute grey-level change between two frames inside the painted region of ``landmarks``."""
    rows, cols = face_window(current.shape, landmarks)
    offset = np.array([cols.start, rows.start], np.float64)
    a, b = _grey(previous[rows, cols]).astype(np.float32), _grey(current[rows, cols]).astype(np.float32)
    region = painted_region(a.shape, np.asarray(landmarks) - offset)
    return float(np.abs(b - a)[region].mean()) if region.any() else 0.0


def reencoded(frames: Sequence[np.ndarray], crf: int = 18, preset: str = "veryfast") -> list[np.ndarray]:
    """The frames through x264 and back (the encode stage's default crf and preset): the control clip.

    A real video is never compared with its own bit-exact pixels in practice; this is what codec noise
    and the re-fit's jitter alone give, and every measure must stay green on it. (Per-frame JPEG is no
    such control: its noise is independent from frame to frame and reads, rightly, as flicker.)
    """
    import subprocess

    from pipeline.media.ffmpeg import ffmpeg_exe

    if not frames:
        return []
    h, w = frames[0].shape[:2]
    pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    raw = np.ascontiguousarray(np.stack(frames)).tobytes()
    encode = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-i", "-",
              "-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", pix_fmt, "-f", "h264", "-"]
    stream = subprocess.run(encode, input=raw, capture_output=True, check=True).stdout
    decode = [ffmpeg_exe(), "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    pixels = subprocess.run(decode, input=stream, capture_output=True, check=True).stdout
    return list(np.frombuffer(pixels, np.uint8).reshape(-1, h, w, 3).copy())


# -- the clip --------------------------------------------------------------------------------------

def smooth3(series: Sequence[float]) -> np.ndarray:
    """Three-frame running mean (ends repeated). dlib's re-fit jitters by about 0.01 in eye aspect ratio
    from frame to frame, as much as a face that is not blinking moves its lids; a blink (100-400 ms)
    outlasts three frames. Measured on the x264 control, 48 frames: eye r 0.86 / 0.65 raw, 0.93 / 0.83
    smoothed (lp_d18 / retalking_face2); today's output stays red (0.41 / -0.26)."""
    x = np.asarray(series, np.float64)
    if len(x) < 3:
        return x
    return np.convolve(np.pad(x, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def _correlation(name: str, source: list[float], output: list[float], threshold: float, swing: float) -> Measure:
    """Pearson r of the smoothed series; n/a when the source is too short or too still for r to mean
    anything (two noise series correlate at random)."""
    src, out = smooth3(source), smooth3(output)
    spread = float(np.std(src)) if len(src) else 0.0
    if len(src) < MIN_SERIES or spread < swing:
        return Measure(name, float("nan"), threshold, False,
                       f"source too short or still to correlate ({len(src)} frames, std {spread:.3f})")
    r = measures.correlation(src, out)
    if math.isnan(r):  # the source moves and the output does not: it follows none of it
        r = 0.0
    return Measure(name, r, threshold, False, f"{len(source)} frames, source std {spread:.3f}")


def measure_clip(outputs: Sequence[np.ndarray], sources: Sequence[np.ndarray], landmarker: Landmarker | None = None,
                 detector: Detector | None = None, pairs: list[FacePair] | None = None) -> ArtefactReport:
    """Every artefact measure of an output clip against its source (BGR uint8 frames, same count and
    size). ``pairs`` from an earlier ``fit_pairs`` of the same clips skips the fitting."""
    _check(outputs, sources)
    if pairs is None:
        pairs = fit_pairs(outputs, sources, landmarker, detector)
    nan = float("nan")
    ghosted = structural = 0
    seams: dict[str, list[float]] = {}
    tones: list[tuple[float, float]] = []
    turns: list[float] = []
    change_in = change_out = 0.0
    by_index = {pair.index: pair for pair in pairs}
    for pair in pairs:
        output, source = outputs[pair.index], sources[pair.index]
        g, s = ghost_counts(output, source, pair.source)
        ghosted, structural = ghosted + g, structural + s
        for name, step in seam_steps(output, source, pair.source, pair.output).items():
            seams.setdefault(name, []).append(step)
        tone = eye_tone(output, source, pair.source, pair.output)
        if tone is not None:
            tones.append(tone)
        turns.extend(gaze_turns(output, source, pair.source, pair.output))
        if pair.index - 1 in by_index:
            change_in += frame_change(sources[pair.index - 1], source, pair.source)
            change_out += frame_change(outputs[pair.index - 1], output, pair.source)
    sides = {name: float(np.mean(steps)) for name, steps in seams.items()}
    worst = max(sides, key=sides.get) if sides else ""
    eyes = ([measures.eye_opening(p.source) for p in pairs], [measures.eye_opening(p.output) for p in pairs])
    mouths = ([measures.mouth_opening(p.source) for p in pairs], [measures.mouth_opening(p.output) for p in pairs])
    mean_nme = float(np.mean([nme(p.source, p.output) for p in pairs])) if pairs else nan
    return ArtefactReport(
        frames=len(outputs), faces=len(pairs),
        nme=Measure("nme", mean_nme, NME_MAX, True, "inner points 17-67 / outer-eye-corner distance"),
        double_edges=Measure("double_edges", ghosted / structural if structural else nan, DOUBLE_EDGES_MAX, True,
                             f"{ghosted} of {structural} source outline pixels shown without their shape"),
        seam=Measure("seam", sides[worst] if sides else nan, SEAM_MAX, True,
                     f"worst: {worst}" if sides else "no band"),
        eye_r=_correlation("eye_r", *eyes, EYE_R_MIN, EYE_SWING),
        mouth_r=_correlation("mouth_r", *mouths, MOUTH_R_MIN, MOUTH_SWING),
        mouth_gap=Measure("mouth_gap", float(np.mean(np.abs(np.subtract(*mouths)))) if pairs else nan,
                          MOUTH_GAP_MAX, True, "mean |inner-lip gap| difference / inter-ocular"),
        eye_tone=Measure("eye_tone", float(np.mean([t[0] for t in tones])) if tones else nan, EYE_TONE_MAX, True,
                         f"dL {np.mean([t[1] for t in tones]):+.1f}" if tones else "no eyes"),
        flicker=Measure("flicker", change_out / change_in if change_in > 0 else nan, FLICKER_MAX, True,
                        "frame-to-frame change in the painted face, output / source"),
        gaze=Measure("gaze", float(np.mean(turns)) if turns else nan, GAZE_MAX, True,
                     f"{len(turns)} eyes read in both"),
        pairs=pairs)
