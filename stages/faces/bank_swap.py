"""The retrieval swap: each target face painted with the best-matching face of a bank of person B.

Why retrieval: it needs no model trained on the target, so any face can be painted with B (the
pair GAN paints a distorted face on people it never saw). Per face: pick the bank face whose
upper face (eyes, brows) and the one whose lower face (mouth, jaw) match best, with the pose
(``bank_match``, each held per track and crossfaded; two picks, because a bank rarely holds every
pairing: the bundled woman never shows open eyes over a closed mouth), warp both so their landmarks
land on the target's (``bank_warp``) and join them across the nose, bring its colour and its light to the target's skin (one Lab
mean and spread, then a slow shading field measured on both faces' skin), and hand the blend stage
the result with a face mask; the blend stage pastes it with its own seam, colour and occlusion care.

``face.swapped_resolution`` stays 0: the blend stage's detail band then adds nothing. That band
carries the source's fine edges (made for a generator that paints at 128 px); over a warped photo
of another face it draws the source's eyes and lips a second time.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Callable

import cv2
import numpy as np

from pipeline.frame import Face, OwnPixels
from stages.faces.bank import FaceBank
from stages.faces.bank_brows import brow_ratios, toned_brows
from stages.faces.bank_eyes import EYES, covered_eyes, eye_whites, keep_weights, kept_eyes, lid_gaps, opened_to, own_brows_and_eyes
from stages.faces.bank_lashes import lash_ratios, toned_lashes
from stages.faces.bank_match import LOWER, UPPER, BankMatcher, Pick, normalising_factor
from stages.faces.bank_mouth import (inner_gap, may_be_open, mouth_interior, opened_past_bank, seen_opening, shown_opening,
                                     stray_teeth)
from stages.faces.bank_pose import nose_area, turned_past
from stages.faces.bank_shape import in_pixels, shape_shift
from stages.faces.bank_sockets import SOCKET_SHADING, shaded_sockets, socket_skin
from stages.faces.bank_warp import (add_grain, apply_colour_and_light, blur_to_match, coarse_blur_to_match, face_mask,
                                   missing_grain, paint_mask, pixel_grid, reinhard_map, rim_share, RIM_SHADING,
                                   shading_correction, sharpen, sharpen_to_match, skin_likelihood, skin_mask,
                                   warp_face, warp_maps, without_features)
from stages.faces.chroma import chroma_ceiling
from stages.faces.gaze import read_iris, turned_to
from stages.faces.geometry import inter_ocular, transform
from stages.faces.glasses import BRIDGE_SHARE, rim_weight, wears_glasses
from stages.faces.highlights import shine_factor, without_excess
from stages.faces.lab_stats import lab_stats


KEPT_FACES = 32  # bank faces kept ready to warp (256 KB each at 256 px)
MEASURE_EVERY = 4  # frames a track's softness and grain measures are reused for
TRACKS_KEPT = 16  # per-track state is pruned of stale tracks once about this many are held
DETAIL_SIGMA = 2.0  # crop pixels: the band finer than this blur is the texture smoothed over frames (it holds the sharpening's)
DETAIL_MEMORY = 0.7  # weight of the past in that band (lp_d18 flicker 1.17 -> 1.10 with the beard area)
RAW_LIDS_MARGIN = 0.15  # share of the smoothed lid gap the raw fit's must depart by to count (a blink, not its tremble)
RAW_LIDS_MEMORY = 0.5  # weight of the past in the raw fit's lid gaps (``_described``): the raw fit trembles
SHUT_EYES_MEMORY = 0.3  # weight of the past in how much of a shut eye is the target's (a blink lasts a few frames)
GLASSES_MEMORY = 0.95  # weight of the past in a track's glasses reading: glasses stay on a face, a frown's lines pass
GAZE_MEMORY = 0.5  # weight of the past in the target's iris position (``gaze``): the reading trembles with the pixels
COLOUR_SPREAD = 1.15  # the Lab spread ratio of the colour match is kept within 1/this..this (see BankSwapper.paint)


LOWER_FACE_BAND = (0.35, 0.75)  # where the lower face's pick fades in: fractions of the way from the eyes to the mouth


def along_axis(start: np.ndarray, end: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: each pixel's place along the face's axis from ``start`` (0) to ``end`` (1),
    measured on that axis (a rolled head's bands run across its face, not across the crop)."""
    axis = (end - start) / max(float(np.dot(end - start, end - start)), 1e-6)
    xs, ys = pixel_grid(size)
    return (xs - np.float32(start[0])) * np.float32(axis[0]) + (ys - np.float32(start[1])) * np.float32(axis[1])


def lower_face_weight(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 weight of the lower face's bank face: 0 above ``LOWER_FACE_BAND`` (eyes,
    brows, forehead), 1 below it (mouth, chin), a smooth ramp across the nose and cheeks, along the
    face's own eyes-to-mouth axis (a rolled head is cut across its face, not the crop)."""
    along = along_axis(points[36:48].mean(axis=0), points[48:68].mean(axis=0), size)
    start, end = LOWER_FACE_BAND
    ramp = np.clip((along - start) / (end - start), 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def upper_lip(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 weight of the skin between the nose and the upper lip (under the nostrils,
    down to the lip line and out to the mouth's corners), feathered, kept off the lip itself.

    Why the target's own: it is where a moustache grows, and a bank person's moustache (the bundled
    man has a thin one), warped and colour-matched onto a clean-shaven face, was the ghost viewers
    named on every one of his swaps; a target's own moustache gone was as plain. The skin there says
    little of who someone is; the nose, lips, eyes and brows around it stay B's."""
    iod = inter_ocular(points)
    outline = np.concatenate([points[31:36], points[[54, 53, 52, 51, 50, 49, 48]]])
    centre = outline.mean(axis=0)
    outline = centre + (outline - centre) * np.array([1.08, 1.0])  # a little wider: the moustache's tips
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(outline * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    reach = max(1, int(round(0.015 * iod)))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    return cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.02 * iod))


BEARD_REACH = 0.3  # x the mouth's width: how far past its corners the beard area reaches
LIP_MARGIN = 0.03  # x inter-ocular: B's paint round the lips, in the beard area (dlib's outline lies inside a full lip)
LOWER_LIP_MARGIN = 0.04  # x inter-ocular: and this much more below the lower lip (most of all on an open mouth)
MARGIN_TONE = 0.015  # x inter-ocular: in the lips' margin, tone coarser than this is the target's (``in_tone_of``)
BEARD_FEATHER = 0.1  # x inter-ocular: the soft edge of the beard area beside and below the mouth (0.03 above it)


def beard_area(points: np.ndarray, size: int, lips: np.ndarray | None = None) -> np.ndarray:
    """(size, size) float32 weight of the skin where a beard grows: from under the nostrils, out past the
    mouth's corners (``BEARD_REACH``, along the mouth's own axis) and down over the chin to the jaw,
    without the lips (kept ``reach`` away from their outline), feathered.

    Why: the bundled man's stubble covers his whole lower face, not just the skin under his nose.
    Kept only there (``upper_lip``), his stubble showed at the mouth's corners and on the chin of
    clean-shaven faces (the "grey ghost smudge beside the upper lip", "chin a smooth soft patch with
    an abrupt texture change"), and a bearded target's own moustache broke off into his. The target's
    own skin there (its beard, or none) matches its jaw and neck; B's lips, nose, eyes and brows stay.
    The lips are left out with a margin (``LIP_MARGIN``, more below: ``LOWER_LIP_MARGIN``): dlib's lip
    outline often lies inside the lip's edge, and the target's full lower lip showed under B's as a
    second one (on an open mouth most of all). Beside and below the mouth its edge fades outward over a
    wide band (``BEARD_FEATHER``): a target's stubble stopping along a line where B's smooth cheek
    began was a blind judge's "stubble band on the chin that stops abruptly"; above the mouth it stays
    narrow, so the target's skin does not spread onto B's nose."""
    iod = inter_ocular(points)
    left, right = points[48], points[54]
    along = (right - left) / max(float(np.linalg.norm(right - left)), 1e-6)
    width = float(np.linalg.norm(right - left))
    middle = points[27:36, :].mean(axis=0)
    chin = [middle + (points[k] - middle) * 0.97 for k in range(4, 13)]  # the jaw, a little inside it
    outline = np.concatenate([points[[35]], [right + along * BEARD_REACH * width], chin[::-1],
                              [left - along * BEARD_REACH * width], points[31:35]])
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(outline * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    lips = _lips_cut(points, size) if lips is None else lips
    narrow = cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.03 * iod))
    wide = cv2.GaussianBlur(mask, (0, 0), max(0.5, BEARD_FEATHER * iod))
    # 0 at the nose's base, 1 from the mouth's middle down
    below = np.clip(along_axis(points[33], points[48:68].mean(axis=0), size), 0.0, 1.0)
    outward = np.maximum(narrow, wide)  # the target's skin fades out over B's cheeks; inside stays the target's
    return (narrow + (outward - narrow) * below) * (1.0 - lips)


OWN_EYE_POINTS = np.r_[17:27, 36:48]  # the brows and eyes, which ``own_eyes`` keeps in place (``_shaped``)
PAST_BANK_MEMORY = 0.5  # weight of the past in how much of a wide-open mouth's own lips show
SHOWN_MEMORY = 0.5  # weight of the past in a track's open mouth (``bank_mouth.shown_opening``) as the bank pick reads it
FOREHEAD_WEIGHT = 0.5  # weight of the forehead strip in the light reading (``forehead_skin``): at 1 the
# target's own brow ridge came with its light (lp_d19 painted on lp_d20 read 0.61 from the target, 0.65 without
# the strip; at 0.5, 0.63), and half took the pale band away as well on retalking_face2
SMALL_FACE = (50.0, 80.0)  # inter-ocular distance in the frame (px): B's proportions none below, all above
SIZE_MEMORY = 0.9  # weight of the past in a track's size: its features must not shift as it breathes


def forehead_skin(points: np.ndarray, size: int, features_cut: np.ndarray) -> np.ndarray:
    """(size, size) float32, 0 or 1: the painted hull with its forehead strip (up to ``paint_mask``'s),
    eroded as ``skin_mask`` erodes, times ``features_cut`` (``without_features`` of a crop of ones: the
    brows, eyes and lips cut out).

    Why: the light match was read on the inner face only (``skin_mask`` stops at the brows, for the
    colour statistics' sake: a fringe there is hair on one face and skin on the other), so over the
    painted forehead strip it was the field of the eyes and nose below, and the bundled man's lit
    brow ridge stayed as "a light blotch between the eyebrows at the top of the face patch" (a judge
    of blind round 24, every crop of ``retalking_face2``). Read through the target's skin likelihood,
    a fringe there counts for nothing."""
    return face_mask(points, size, forehead=0.15, erode=0.05, feather=0.0) * features_cut


def small_face_share(inter_ocular_px: float) -> float:
    """0..1: how much of ``bank_shape`` a face this size in the frame takes (``SMALL_FACE``).

    Why: on a small face, upscaled into the crop, the target's eyes, nose and mouth are blurred into
    the slow light the shading match carries over; moved to B's proportions, B's features sat beside
    the target's soft shadows of its own, and a boy in the crowd clip (45-55 px between his eye
    corners) showed a second nose outline and smudged eyes. B's proportions say little of who someone
    is on a face that small."""
    low, high = SMALL_FACE
    return float(np.clip((inter_ocular_px - low) / (high - low), 0.0, 1.0))


def _lips_cut(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: the lips and the margin round them that ``beard_area`` leaves to B
    (``LIP_MARGIN``, and ``LOWER_LIP_MARGIN`` more below), feathered."""
    iod = inter_ocular(points)
    lips = np.zeros((size, size), np.uint8)
    down = (points[57] - points[51]) / max(float(np.linalg.norm(points[57] - points[51])), 1e-6)
    for shift in np.linspace(0.0, LOWER_LIP_MARGIN * iod, 4):  # the lower lip swept down its own axis
        cv2.fillPoly(lips, [np.round((points[48:60] + down * shift) * 4).astype(np.int32)], 1, cv2.LINE_AA, shift=2)
    reach = max(1, int(round(LIP_MARGIN * iod)))
    lips = cv2.dilate(lips, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    return cv2.GaussianBlur(lips.astype(np.float32), (0, 0), max(0.5, 0.03 * iod))


def lip_margin(points: np.ndarray, size: int, cut: np.ndarray | None = None) -> np.ndarray:
    """(size, size) float32 weight of the margin round the lips that ``beard_area`` leaves to B: the
    lips' cut (``_lips_cut``, or ``cut``), grown, less the lips themselves."""
    lips = np.zeros((size, size), np.float32)
    cv2.fillPoly(lips, [np.round(points[48:60] * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    lips = cv2.GaussianBlur(lips, (0, 0), max(0.5, 0.01 * inter_ocular(points)))
    cut = _lips_cut(points, size) if cut is None else cut
    return np.clip(np.minimum(2.0 * cut, 1.0) - lips, 0.0, 1.0)


def in_tone_of(image: np.ndarray, reference: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` with, by ``weight``, its tone coarser than ``sigma`` (crop px) replaced by ``reference``'s:
    its fine texture and edges stay, its slow light and colour become the reference's. Only the box
    round ``weight`` (and the blur's reach) is worked: a mouth's margin is a small part of the crop."""
    rows, cols = np.nonzero(weight > 1e-3)
    if rows.size == 0:
        return image
    reach = int(np.ceil(3 * sigma)) + 1
    y0, y1 = max(int(rows.min()) - reach, 0), min(int(rows.max()) + reach + 1, image.shape[0])
    x0, x1 = max(int(cols.min()) - reach, 0), min(int(cols.max()) + reach + 1, image.shape[1])
    part = image[y0:y1, x0:x1].astype(np.float32)
    shift = (cv2.GaussianBlur(reference[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
             - cv2.GaussianBlur(part, (0, 0), sigma))
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(part + shift * weight[y0:y1, x0:x1, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def laid_in(painted: np.ndarray, share: np.ndarray, own: np.ndarray,
            weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``painted`` with the target's own pixels ``own`` laid in by ``weight`` (0..1), and ``share``, the
    part of each pixel that is the target's own, grown to match: the one step every kept part of the
    target (eyes, lids, lips, mouth, nose) takes."""
    return cv2.blendLinear(own, painted, weight, 1.0 - weight), weight + (1.0 - weight) * share


def upper_lip_shade(bank: FaceBank, every: int = 4) -> float:
    """Median L* of the skin between nose and lip (``upper_lip``) less that of the cheeks, over every
    ``every``-th bank face: well below 0 where a moustache grows (the bundled man: -15), above where
    none does (the nose's shadow aside; the bundled woman: +6). Decides ``swap.bank_upper_lip = auto``."""
    shades = []
    for crop, points in zip(bank.crops[::every], bank.landmarks[::every]):
        lip = upper_lip(points, crop.shape[0]) > 0.5
        cheeks = (skin_mask(points, crop.shape[0]) > 0.5) & ~lip
        if lip.sum() < 8 or cheeks.sum() < 8:
            continue
        lightness = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
        shades.append(float(lightness[lip].mean() - lightness[cheeks].mean()))
    return float(np.median(shades)) if shades else 0.0


class BankSwapper:
    """Paints faces from a ``FaceBank``; keeps per-track state, so faces must come in frame order."""

    def __init__(self, bank: FaceBank, stickiness: float = 0.001, crossfade: int = 4, grain: bool = True,
                 shading: float = 0.3, mouth: str = "target", upper_lip: str = "bank", shape: float = 1.0,
                 sharpen: bool = True, eyes: str = "target", shine_reach: float = 0.0, turned_nose: bool = False,
                 visible_face: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``sharpen``: an unsharp mask up to the target's sharpness when the warped bank face is softer
        (``bank_warp.sharpen_to_match``); ``shape``: how far the painted features take B's proportions (``bank_shape``; 0 = the
        target's); ``shading``: width of the light match's blur in inter-ocular distances (0 = Reinhard only);
        ``mouth``: "target" fills the opening between the inner lips with the target's own mouth
        (``mouth_interior``), and a mouth opened past any of the bank's keeps its own lips too
        (``opened_past_bank``), "bank" leaves the bank face's; ``upper_lip``: "target" leaves the
        target's skin between nose and lip (``upper_lip``), "beard" all of the target's skin where a
        beard grows (``beard_area``), "bank" paints B's there too; ``eyes``:
        "target" keeps the target's own lids where its eye is shut and the bank cannot shut B's
        (``bank_eyes``), "bank" paints B's most closed eye there; ``shine_reach``: how far from B's
        highlight the target's shine holds it (``highlights.shine_factor``); ``turned_nose``: a head turned
        further than the bank face keeps its own nose (``bank_pose``); ``visible_face``: a bank crop's
        visible face, 0..1 (the occlusion segmenter): what of B is painted is also cut to it, so B's
        hair is not painted where its colour is close to B's skin (a dark strand across the temple of
        a turned head, on the crowd clip)."""
        self.bank = bank
        self.mouth = mouth
        self.upper_lip = upper_lip
        self.shape = shape
        self.sharpen = sharpen
        self.grain = grain
        self.shading = shading
        self.shine_reach = shine_reach
        self.turned_nose = turned_nose
        self.eyes = eyes
        self.visible_face = visible_face
        self.matcher = BankMatcher(bank.descriptors, stickiness=stickiness, crossfade=crossfade, groups=(UPPER, LOWER),
                                   shown=np.array([shown_opening(crop, points)
                                                   for crop, points in zip(bank.crops, bank.landmarks)]),
                                   covered=covered_eyes(np.array([eye_whites(crop, points)
                                                                  for crop, points in zip(bank.crops, bank.landmarks)])))
        self.gaps = np.array([inner_gap(points) for points in bank.landmarks], np.float32)  # each bank mouth's opening
        self.sharpness_memory = 0.7  # weight of the past in a track's blur (a blur that jumps is flicker)
        self._smooth: dict[tuple[int, str], tuple[int, Any]] = {}  # (track, what) -> (last frame, smoothed value)
        self._measures: dict[tuple[int, str], tuple[int, float]] = {}  # (track, what) -> (frame measured, value)
        self._with_skin: OrderedDict[int, np.ndarray] = OrderedDict()  # bank index -> BGR + skin likelihood, uint8
        self._bank_glasses: dict[int, bool] = {}  # bank index -> whether that face wears glasses

    def paint(self, face: Face, frame_index: int, own_eyes: bool = False) -> None:
        """Fill ``face.swapped`` and ``face.swapped_mask`` of an aligned face with landmarks;
        ``own_eyes``: the target's own brows and eyes stay (``bank_eyes.own_brows_and_eyes``), and its
        beard area (``beard_area``): a face painted with a person of the other sex."""
        crop = np.ascontiguousarray(face.crop[..., :3])
        size = crop.shape[0]
        points = transform(face.landmarks, face.matrix)
        seen = seen_opening(crop, points)  # the target's open mouth, read once for the pick and the mouth
        shown = self._smoothed(face.track_id, frame_index, "shown", shown_opening(crop, points, seen), SHOWN_MEMORY)
        upper, lower = self.matcher.pick_groups(self._described(face, points, frame_index), face.track_id, frame_index,
                                                shown)
        target_openness = self.matcher.last_openness
        shaped = self._shaped(points, face, frame_index, own_eyes)  # where B's features go (``bank_shape``)
        # the target's own pixels moved with its landmarks onto ``shaped`` (its mouth opening and upper
        # lip), warped only when one of them is painted
        maps = functools.cache(lambda: warp_maps(points, shaped, size))
        target = functools.cache(lambda: crop if shaped is points else warp_face(crop, points, shaped, size, maps()))
        painted = self._painted(upper, shaped, size)
        if (lower.index, lower.previous, lower.weight) != (upper.index, upper.previous, upper.weight):
            weight = lower_face_weight(shaped, size)
            painted = cv2.blendLinear(self._painted(lower, shaped, size), painted, weight, 1.0 - weight)
        if not own_eyes:  # B's iris looks where the target's does (``gaze``)
            painted = self._look_as_target(painted, crop, points, shaped, face.track_id, frame_index)
        bank_skin = painted[..., 3].astype(np.float32) / 255.0
        inner = skin_mask(points, size, features=True)
        # the target's inner-face skin, where colour and grain are measured: without its features, nor
        # where B's lie; what the features take is where sharpness is read (``_match_sharpness``)
        features_cut = without_features(np.ones((size, size), np.float32), points)  # 0 on the brows, eyes and lips
        skin = inner * features_cut
        edges = inner - skin
        if shaped is not points:
            shaped_skin = without_features(inner, shaped)
            skin = np.minimum(skin, shaped_skin)  # the cut-outs are 0 or 1: the same as cutting both
            edges = np.maximum(edges, inner - shaped_skin)
        own_skin = skin_likelihood(crop, points, skin=skin)
        mask = paint_mask(points, size, np.minimum(bank_skin, own_skin), shaped=None if shaped is points else shaped)
        painted = np.ascontiguousarray(painted[..., :3])
        painted, sharpened = self._match_sharpness(painted, crop, edges, face.track_id, frame_index)
        # the target's pixels moved onto B's proportions were resampled by the warp as B's face was:
        # sharpened as it is (and grained with it below); unmoved, they are the crop's own
        resampled = functools.cache(
            lambda: sharpen(target(), sharpened) if sharpened > 0.0 and shaped is not points else target())
        skin_stats = lab_stats(crop, skin)  # the target skin's Lab mean and spread: the colour match's goal
        ratio, offset = self._smoothed(face.track_id, frame_index, "colour", np.stack(
            reinhard_map(painted, crop, skin, spread=COLOUR_SPREAD, target_stats=skin_stats)))
        correction = None
        if self.shading > 0:
            # the light is read on the inner skin and on the forehead's painted strip where both faces
            # show skin (``forehead_skin``)
            lit = np.maximum(skin, FOREHEAD_WEIGHT * forehead_skin(points, size, features_cut) * own_skin) * bank_skin
            correction = shading_correction(painted, crop, lit, self.shading * inter_ocular(points), ratio, offset)
            if RIM_SHADING < self.shading:  # the rim's light follows the target's more closely (``rim_share``)
                rim = shading_correction(painted, crop, lit, RIM_SHADING * inter_ocular(points), ratio, offset)
                correction = correction + rim_share(points, size)[..., None] * (rim - correction)
            sockets = socket_skin(points, size)
            if shaped is not points:
                sockets = sockets * socket_skin(shaped, size)
            sockets = np.maximum(lit, sockets * inner * bank_skin)
            correction = shaded_sockets(correction, shading_correction(
                painted, crop, sockets, SOCKET_SHADING * inter_ocular(points), ratio, offset), shaped, size)
            correction = self._smoothed(face.track_id, frame_index, "light", correction)
        # no more colour than the footage holds: B's irises and lips in a black and white clip (``chroma``)
        centre = self._smoothed(face.track_id, frame_index, "skin colour", skin_stats[0, 1:])
        ceiling = self._smoothed(face.track_id, frame_index, "chroma", self._measured(
            face.track_id, frame_index, "chroma", lambda: chroma_ceiling(crop, centre)))
        painted = apply_colour_and_light(painted, ratio, offset, correction, (centre, ceiling))
        if self.shading > 0 and not self._wears_glasses(upper):  # B's highlights no brighter than the target's
            factor = self._smoothed(face.track_id, frame_index, "shine", shine_factor(
                painted, crop, face_mask(points, size, erode=0.0, feather=0.0), points, shaped, self.shine_reach))
            painted = without_excess(painted, factor)
        # B's brows as dark as the target's (``bank_brows``), before any of the target's own pixels
        # are laid in; the ratio is read every MEASURE_EVERY frames and smoothed like the light
        brows = self._smoothed(face.track_id, frame_index, "brows", self._measured(
            face.track_id, frame_index, "brows", lambda: brow_ratios(painted, crop, points, shaped)))
        painted = toned_brows(painted, shaped, brows)
        if not own_eyes:  # and its lash line not made-up past the target's (``bank_lashes``)
            lashes = self._smoothed(face.track_id, frame_index, "lashes", self._measured(
                face.track_id, frame_index, "lashes", lambda: lash_ratios(painted, crop, points, shaped)))
            painted = toned_lashes(painted, shaped, lashes)
        painted, mask, own_share = self._keep_targets_own(painted, mask, resampled, shaped, points is shaped, own_eyes,
                                                          target_openness, upper, face.track_id, frame_index)
        if self.turned_nose:
            painted, own_share = self._keep_turned_nose(painted, own_share, resampled, points, shaped, upper,
                                                        face.track_id, frame_index)
        if self.mouth == "target":  # a mouth open wider than any of B's: its own lips (``opened_past_bank``)
            painted, own_share = self._keep_open_lips(painted, own_share, resampled, points, shaped, lower,
                                                      face.track_id, frame_index)
        painted = self._steady_detail(painted, face.track_id, frame_index)
        if self.grain:  # not over the target's own pixels: they have their grain
            missing = self._measured(face.track_id, frame_index, "grain", lambda: missing_grain(painted, crop, skin))
            painted = add_grain(painted, missing, skin * (1.0 - own_share), seed=frame_index * 1009 + max(face.track_id, 0))
        opening = np.zeros((size, size), np.float32)
        if self.mouth == "target" and may_be_open(points, crop, seen):
            inside = mouth_interior(shaped, size, resampled())
            if inside is not None:
                inside = np.maximum(inside, stray_teeth(painted, shaped, inside, resampled()))
                painted, own_share = laid_in(painted, own_share, resampled(), inside)
                opening = inside
        glasses = self._measured(face.track_id, frame_index, "glasses", lambda: wears_glasses(crop, points))
        if self._smoothed(face.track_id, frame_index, "glasses", glasses, GLASSES_MEMORY) >= BRIDGE_SHARE:
            mask = mask * (1.0 - rim_weight(crop, painted, points))
        face.swapped = cv2.blendLinear(painted, crop, mask, 1.0 - mask)
        face.swapped_mask = mask
        # what is the target's own here and must keep its colour in the blend: the unpainted rest, and
        # the open mouth, whose dark the blend's transfer (fitted to the painted skin) turned green
        # inside red lips. The target's eyes, lids or beard area kept within B's skin are left to the
        # transfer: they meet that skin, and a transfer stopping at their edge would outline them.
        face.swapped_own = 1.0 - mask * (1.0 - opening)
        face.swapped_skin = skin  # the target's inner-face skin, off both faces' features: where the blend reads colour
        face.swapped_own_pixels = None if not own_share.any() else OwnPixels(
            mask * own_share, resampled(), *((None, None) if shaped is points else maps()))
        face.swapped_resolution = 0
        face.extras["bank_pick"] = (upper, lower)  # for diagnostics: which bank faces, and whether they changed
        self._forget(frame_index)

    def _match_sharpness(self, painted: np.ndarray, crop: np.ndarray, edges: np.ndarray, track: int,
                         frame_index: int) -> tuple[np.ndarray, float]:
        """``painted`` blurred to the target's sharpness inside ``edges`` (the features' edges: eyes, brows,
        lips and a margin; skin says how smooth a face is, not how sharp the picture is) when it is sharper
        (``blur_to_match``, and ``coarse_blur_to_match`` for footage blurred past the finest band), else
        sharpened up to it (``sharpen_to_match``, when ``sharpen``); and the
        unsharp amount used (0 when none). Both measures are held for a few frames and smoothed."""
        softness = self._measured(track, frame_index, "blur", lambda: max(blur_to_match(painted, crop, edges),
                                                                           coarse_blur_to_match(painted, crop, edges)))
        sigma = self._smoothed(track, frame_index, "blur", softness)
        if sigma > 0.0:
            return cv2.GaussianBlur(painted, (0, 0), sigma), 0.0
        if not self.sharpen:
            return painted, 0.0
        amount = self._measured(track, frame_index, "sharpen", lambda: sharpen_to_match(painted, crop, edges))
        amount = self._smoothed(track, frame_index, "sharpen", amount)
        return (sharpen(painted, amount), amount) if amount > 0.05 else (painted, 0.0)

    def _keep_targets_own(self, painted: np.ndarray, mask: np.ndarray, own: Callable[[], np.ndarray],
                          shaped: np.ndarray, unmoved: bool, own_eyes: bool, openness: np.ndarray | None,
                          upper: Pick, track: int, frame_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``painted`` and the paint ``mask`` with the target's own pixels (``own()``, on ``shaped``)
        where they stay: its upper lip or beard area (``upper_lip``; always the beard area with
        ``own_eyes``), and its brows and eyes (``own_eyes``) or its shut eyes (``eyes = "target"``);
        and the share of each pixel of ``painted`` that is ``own()``.
        ``unmoved``: ``shaped`` is the target's own landmarks, so the upper lip is simply not painted."""
        size = painted.shape[0]
        share = np.zeros((size, size), np.float32)
        keep_lip = "beard" if own_eyes else self.upper_lip  # a man's stubble stays under the woman too
        if keep_lip in ("target", "beard"):
            cut = _lips_cut(shaped, size) if keep_lip == "beard" else None
            lip = upper_lip(shaped, size) if cut is None else beard_area(shaped, size, cut)
            if unmoved:
                mask = mask * (1.0 - lip)  # the target's own pixels, not resampled
            else:
                painted, share = laid_in(painted, share, own(), lip)
            if keep_lip == "beard":  # B's stubble in the lips' margin: its texture stays, its tone is the target's
                painted = in_tone_of(painted, own(), lip_margin(shaped, size, cut), MARGIN_TONE * inter_ocular(shaped))
        if own_eyes:
            eyes = own_brows_and_eyes(shaped, size)
            painted, share = laid_in(painted, share, own(), eyes)
        elif self.eyes == "target":
            kept = self._shut_eyes_kept(shaped, size, openness, upper, track, frame_index)
            if kept is not None:
                painted, share = laid_in(painted, share, own(), kept)
        return painted, mask, share

    def _keep_turned_nose(self, painted: np.ndarray, own_share: np.ndarray, own: Callable[[], np.ndarray],
                          points: np.ndarray, shaped: np.ndarray, upper: Pick, track: int,
                          frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """``painted`` with the target's own nose (``own()``, on ``shaped``) as far as its head is turned
        past the upper face's bank face (``bank_pose.turned_past``, smoothed over the track), and the
        share of each pixel that is now ``own()``."""
        turned = self._smoothed(track, frame_index, "turned", turned_past(points, self.bank.landmarks[upper.index]))
        if turned < 0.01:  # what the smoothing leaves of a turn once the head is back
            return painted, own_share
        nose = nose_area(shaped, painted.shape[0]) * np.float32(turned)
        return laid_in(painted, own_share, own(), nose)

    def _look_as_target(self, painted: np.ndarray, crop: np.ndarray, points: np.ndarray, shaped: np.ndarray,
                        track: int, frame_index: int) -> np.ndarray:
        """``painted`` with each open eye's iris moved along the eye to where the target's is (its
        reading smoothed over the track's frames); an eye either face shows too little of is left."""
        for number, eye in enumerate(EYES):
            wanted = read_iris(crop, points, eye)
            if wanted is None:
                continue
            shown = read_iris(painted[..., :3], shaped, eye)
            if shown is None:
                continue
            along = self._smoothed(track, frame_index, f"gaze {number}", wanted.along, GAZE_MEMORY)
            painted = turned_to(painted, shaped, eye, shown.along, along)
        return painted

    def _keep_open_lips(self, painted: np.ndarray, own_share: np.ndarray, own: Callable[[], np.ndarray],
                        points: np.ndarray, shaped: np.ndarray, lower: Pick, track: int,
                        frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """``painted`` with the target's own lips and their margin (``own()``, on ``shaped``) as far as its
        mouth is open past the painted bank mouth (``opened_past_bank``, smoothed over the track), and
        the share of each pixel that is now ``own()``."""
        painted_gap = self.gaps[lower.index] if lower.previous < 0 else (
            lower.weight * self.gaps[lower.index] + (1.0 - lower.weight) * self.gaps[lower.previous])
        past = self._smoothed(track, frame_index, "past bank", opened_past_bank(inner_gap(points), painted_gap),
                              PAST_BANK_MEMORY)
        if past <= 0.0:
            return painted, own_share
        lips = _lips_cut(shaped, painted.shape[0]) * np.float32(past)
        return laid_in(painted, own_share, own(), lips)

    def _shut_eyes_kept(self, shaped: np.ndarray, size: int, openness: np.ndarray | None, upper: Pick,
                        track: int, frame_index: int) -> np.ndarray | None:
        """The weight of the target's own lids where its eye is shut and the painted one is not
        (``bank_eyes``; None: none kept); the weights are smoothed over the track's frames as lightly
        as the eye moves."""
        painted_openness = self.matcher.painted_openness(upper)
        if openness is None or painted_openness is None:
            return None
        weights = self._smoothed(track, frame_index, "shut eyes", keep_weights(openness, painted_openness),
                                 SHUT_EYES_MEMORY)
        return kept_eyes(shaped, size, weights)

    def _described(self, face: Face, points: np.ndarray, frame_index: int) -> np.ndarray:
        """``points`` with each eye as open as the landmark model saw it this frame (lightly smoothed):
        what the bank eye is chosen by, and what says an eye is shut (``bank_eyes.opened_to``)."""
        if face.landmarks_raw is None:
            return points
        gaps = lid_gaps(points)
        ratios = lid_gaps(transform(face.landmarks_raw, face.matrix)) / np.maximum(gaps, 1e-3)
        ratios = np.where(np.abs(ratios - 1.0) > RAW_LIDS_MARGIN, ratios, 1.0)
        ratios = self._smoothed(face.track_id, frame_index, "lid gaps", ratios, RAW_LIDS_MEMORY)
        return opened_to(points, ratios)

    def _shaped(self, points: np.ndarray, face: Face, frame_index: int, own_eyes: bool = False) -> np.ndarray:
        """``points`` moved by ``shape`` x the shift to B's proportions (``bank_shape``), less on a small
        face (``small_face_share``); ``points`` itself when nothing moves (shape 0, a small face, or a
        face with no track). With ``own_eyes`` the brows and eyes stay where they are: they are the
        target's own pixels then, and moved to B's proportions they were stretched to B's eye width
        (a man painted with the bundled woman got her wider eyes' outline on his own lids)."""
        rest = self.matcher.own_rest(face.track_id) if self.shape > 0 else None
        if rest is None:
            return points
        size = self._smoothed(face.track_id, frame_index, "size", inter_ocular(face.landmarks), SIZE_MEMORY)
        share = small_face_share(size)
        if share <= 0.0:
            return points
        shift = shape_shift(rest[0], self.matcher.neutral, rest[1]) * (self.shape * share)
        if own_eyes:
            shift[OWN_EYE_POINTS] = 0.0
        return points + in_pixels(shift, normalising_factor(points))

    def _steady_detail(self, painted: np.ndarray, track: int, frame_index: int) -> np.ndarray:
        """``painted`` with its band finer than ``DETAIL_SIGMA`` smoothed over the track's frames
        (``DETAIL_MEMORY`` of the past), in the crop, where the face stays in place. The warp follows
        the landmarks' jitter, so the bank's pores and stubble shimmered on a still face while the
        footage's own skin stood still; the coarser shapes (an opening mouth) follow at once."""
        if track < 0:
            return painted
        low = cv2.GaussianBlur(painted, (0, 0), DETAIL_SIGMA)
        detail = self._smoothed(track, frame_index, "detail", painted.astype(np.float32) - low, DETAIL_MEMORY)
        return np.clip(low + detail + 0.5, 0, 255).astype(np.uint8)

    def _forget(self, frame_index: int, after: int = 30) -> None:
        """Drop the state of tracks unseen for ``after`` frames (a long live session meets many faces)."""
        if len(self._smooth) + len(self._measures) < 3 * TRACKS_KEPT:
            return
        for table in (self._smooth, self._measures):
            for key in [k for k, (seen, _) in table.items() if frame_index - seen > after]:
                del table[key]

    def _measured(self, track: int, frame_index: int, what: str, measure: Callable[[], float]) -> float:
        """``measure()`` for this face, or the value its track measured up to ``MEASURE_EVERY - 1``
        frames ago: a face's softness and grain change with the footage, not from frame to frame (each
        measure is a few blurs of the crop; the blur is smoothed over frames besides)."""
        if track < 0:
            return measure()
        last = self._measures.get((track, what))
        if last is not None and 0 <= frame_index - last[0] < MEASURE_EVERY:
            return last[1]
        value = measure()
        self._measures[(track, what)] = (frame_index, value)
        return value

    def _smoothed(self, track: int, frame_index: int, what: str, value: Any, memory: float | None = None) -> Any:
        """``value`` (a number or an array) smoothed over a track's frames (``memory`` of the past, by
        default ``sharpness_memory``); a new track, or one back after a gap, starts afresh. The blur, the colour map and the
        light field are measured anew on every face, and each follows the landmarks' jitter and the
        crossfades: a face whose softness, colour or light trembles while it stands still is flicker."""
        if track < 0:
            return value
        last = self._smooth.get((track, what))
        if last is not None and 0 < frame_index - last[0] <= 2 and np.shape(last[1]) == np.shape(value):
            memory = self.sharpness_memory if memory is None else memory
            value = memory * last[1] + (1.0 - memory) * value
        self._smooth[(track, what)] = (frame_index, value)
        return value

    def _painted(self, pick: Pick, points: np.ndarray, size: int) -> np.ndarray:
        """The picked bank face warped onto ``points``, crossfaded from the previous pick during a fade."""
        painted = self._warp(pick.index, points, size)
        if pick.previous >= 0 and pick.weight < 1.0:
            faded = self._warp(pick.previous, points, size)
            painted = cv2.addWeighted(painted, pick.weight, faded, 1.0 - pick.weight, 0.0)
        return painted

    def _warp(self, index: int, points: np.ndarray, size: int) -> np.ndarray:
        """Bank face ``index`` warped onto ``points``: BGR plus its skin likelihood (0..255) as channel 3."""
        return warp_face(self._bank_face(index), self.bank.landmarks[index], points, size)

    def _wears_glasses(self, pick: Pick) -> bool:
        """Whether the bank face of ``pick`` (or the one it fades from) wears glasses, read once per bank face.

        Why: ``highlights`` reads a shine on the brow ridge and round the eyes, where a frame's rims and
        lenses catch the light; taken down, a bank person's glasses faded into the face, and dlib read
        ``lp_d19`` (glasses) painted on ``lp_d20`` 0.56 from him on its first frame, past
        ``test_bank_swap``'s limit of 0.49."""
        for index in (pick.index, pick.previous):
            if index >= 0 and index not in self._bank_glasses:
                self._bank_glasses[index] = wears_glasses(self.bank.crops[index], self.bank.landmarks[index]) >= BRIDGE_SHARE
            if index >= 0 and self._bank_glasses[index]:
                return True
        return False

    def _bank_face(self, index: int) -> np.ndarray:
        """Bank face ``index`` with its skin likelihood (0..255) as a 4th channel; the last
        ``KEPT_FACES`` used are kept (a track holds its face for many frames)."""
        if index in self._with_skin:
            self._with_skin.move_to_end(index)
            return self._with_skin[index]
        crop = self.bank.crops[index]
        skin = skin_likelihood(crop, self.bank.landmarks[index])
        if self.visible_face is not None:
            skin = np.minimum(skin, self.visible_face(crop))
        skin = np.round(skin * 255).astype(np.uint8)
        self._with_skin[index] = np.dstack([crop, skin])
        if len(self._with_skin) > KEPT_FACES:
            self._with_skin.popitem(last=False)
        return self._with_skin[index]
