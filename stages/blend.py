"""The blend stage: the generated face back into the frame, without seams, colour shifts or flicker.

Steps per selected face (all in the aligned crop's coordinates, where a face keeps its place from
frame to frame, so per-track temporal smoothing is meaningful):
1. blend mask = generator mask x landmark-hull mask, eroded and feathered (sizes in frame pixels);
   then the minimum with the occlusion mask (``occlusion = "xseg"``): a small U-Net
   (``models.segmenter``) marks what of the crop is visible face, so fingers, hands and objects in
   front of the face keep their own pixels. It is shaped (eroded, feathered) on its own and never
   smoothed over time: a moving hand must not be painted over by last frame's mask;
2. colour transfer of the generated face to the original's colour statistics inside the mask:
   Reinhard (mean/std per LAB channel, "rct"), or histogram matching ("hist"), or none; its
   statistics are read on the swap's skin (``Face.swapped_skin``, ``colour_region``) when the swap
   gives it, not on the painted person's own eyes and lips. Pixels the
   swap says are the target's own (``Face.swapped_own``: the bank swap's open mouth and what it did
   not paint) are left as they are, in proportion: they are in the target's colour already;
3. the mask and the colour statistics are smoothed over time per face track (exponential moving
   average), so colour does not pulse and the edge does not crawl;
4. warp back with the inverse alignment, only inside the face's bounding rectangle, and alpha-composite
   (or OpenCV seamless cloning when asked). Pixels outside the blend mask are never written.
5. detail (``detail`` > 0): the generator paints at its own resolution (128 px; 64 for the fast
   model), so a face that spans 300 px comes out upscaled and soft. The frame's own band finer than
   the model's resolution (original minus its Gaussian blur of ``detail_band`` model pixels) is added
   onto the pasted face: skin texture, eyelashes and lip edges come from the source at the scale
   where they carry little identity, while the shapes, tone and identity above that scale are the
   generator's. The band is narrow because a wide one carries the source's features back and pulls
   the identity towards the source; a band too narrow leaves the face soft. The 128-px model stands a
   wider band (0.5, the default) than the 64-px one, which live's profile runs with 0.3;
   ``bench/quality.py`` measures sharpness against identity for a choice of band.
   The bank swap paints at the crop's resolution and says where it shows the target's own pixels
   and from where it moved them (``Face.swapped_own_pixels``: its open mouth, beard area, shut
   lids). On a face bigger than the crop (``OWN_DETAIL_SCALE``) exactly those pixels get back what
   the crop lost (``add_own_detail``), moved as the swap moved them; B's paint gets none of the
   frame's detail, so no source outline lies over B's features. On ``retalking_face2`` (a face about
   1.6 times the crop) the teeth and stubble were as soft as the painted face.
6. mouth (``mouth = "source"``): the source's lips and mouth interior (the outer lip contour from the
   landmarks, grown and feathered) are kept, shifted to the swapped face's colour in a ring around
   them, so speech stays in sync.

It also measures flicker: the mean frame-to-frame change inside each face's box in the output,
divided by the same in the input (1.0 = as stable as the source), reported in the run stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import option
from pipeline.frame import Face, Frame, OwnPixels
from pipeline.media.masks import MaskWriter
from pipeline.stage import Stage, StageContext
from stages.faces.geometry import crop_region, similarity_scale, transform
from stages.faces.lab_stats import lab_stats
from stages.summaries import BlendSummary


@dataclass
class BlendConfig:
    """The ``[blend]`` table."""

    erosion: float = option(4.0, "shrink the blend mask by this much before feathering", unit="px of the frame", min=0.0, max=100.0)
    feather: float = option(8.0, "width of the soft edge of the blend mask", unit="px of the frame", min=0.0, max=200.0)
    color: str = option("rct", "colour transfer: rct (Reinhard, LAB mean/std), hist (histogram matching), none",
                        choices=("rct", "hist", "none"))
    method: str = option("alpha", "compositing: alpha (feathered mask) or seamless (OpenCV Poisson cloning)",
                         choices=("alpha", "seamless"))
    temporal: float = option(0.6, "weight of the past in the per-track smoothing of mask and colour (0 = none)",
                             min=0.0, max=0.95)
    use_model_mask: bool = option(True, "multiply the landmark-hull mask by the generator's own mask")
    occlusion: str = option("xseg", "keep what is in front of the face (fingers, hands, objects): xseg = the "
                            "segmenter's visible-face mask, combined with the face mask by minimum; none = off",
                            choices=("xseg", "none"))
    occlusion_model: str = option("", "segmenter weights (.safetensors); empty = models/segmenter/segmenter.safetensors")
    detail: float = option(1.0, "carry the frame's detail finer than the model's resolution onto the swapped face "
                           "(0 = off, 1 = all of it)", min=0.0, max=2.0)
    detail_band: float = option(0.5, "the detail carried over is what is finer than this (Gaussian sigma, in pixels "
                                "of the model's resolution); smaller keeps more of the generator's identity",
                                min=0.05, max=2.0)
    mouth: str = option("none", "source = keep the source's lips and mouth interior (lip contour from the landmarks, "
                        "feathered, colour-matched) for lip sync; none = the generator's mouth",
                        choices=("none", "source"))
    mouth_grow: float = option(0.12, "grow the lip contour by this fraction of the mouth width before feathering",
                               min=0.0, max=1.0)
    masks_dir: str = option("", "write each frame's blend mask as PNG into this folder (debugging); empty = off")


@dataclass
class _Track:
    """What blend remembers of one face track between frames."""

    mask: np.ndarray | None = None
    stats: np.ndarray | None = None  # (4, 3): source mean, source std, target mean, target std in LAB
    last_index: int = -10


def shape_mask(mask: np.ndarray, erosion_px: float, feather_px: float) -> np.ndarray:
    """Erode then blur a float mask (sizes in this mask's pixels); the result stays inside the input."""
    import cv2
    out = mask.astype(np.float32)
    if erosion_px >= 1:
        k = int(round(erosion_px)) * 2 + 1
        out = cv2.erode(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if feather_px >= 1:
        # erode by the feather width first and blur with a 3-sigma reach of that width, so the soft
        # edge ends where the (eroded) mask ended and never spills past it
        k = int(round(feather_px)) * 2 + 1
        out = cv2.erode(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        sigma = feather_px / 3.0
        reach = int(round(feather_px)) * 2 + 1
        out = cv2.GaussianBlur(out, (reach, reach), sigmaX=sigma)
    return np.clip(out, 0.0, 1.0)


RCT_SPREAD = 2.0  # the colour transfer's spread ratio per Lab channel is kept within 1/this..this
SKIN_SPREAD = 1.15  # and within this when read on a swap's skin, as the bank swap's own colour match keeps it


def apply_rct(image: np.ndarray, stats: np.ndarray, spread: float = RCT_SPREAD) -> np.ndarray:
    """Reinhard colour transfer with given (source mean, source std, target mean, target std); each
    channel's spread ratio kept within 1/``spread``..``spread``."""
    import cv2
    source_mean, source_std, target_mean, target_std = stats
    ratio = np.clip(target_std / source_std, 1.0 / spread, spread)
    offset = target_mean - source_mean * ratio
    # a per-channel affine map on 8-bit LAB is a lookup table: one pass instead of float maths
    tables = [np.clip(np.arange(256) * ratio[c] + offset[c] + 0.5, 0, 255).astype(np.uint8) for c in range(3)]
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    channels = [cv2.LUT(lab[..., c], tables[c]) for c in range(3)]
    return cv2.cvtColor(cv2.merge(channels), cv2.COLOR_LAB2BGR)


def match_histograms(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of the masked region of ``image`` to that of ``reference``."""
    from skimage.exposure import match_histograms as skimage_match

    inside = mask > 0.5
    if inside.sum() < 16:
        return image
    matched = skimage_match(image[inside][None], reference[inside][None], channel_axis=-1)[0]
    out = image.copy()
    out[inside] = np.clip(matched, 0, 255).astype(np.uint8)
    return out


def add_detail(face: np.ndarray, original: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """``face`` plus ``amount`` x the band of ``original`` finer than ``sigma`` (frame pixels)."""
    import cv2

    source = original.astype(np.float32)
    band = source - cv2.GaussianBlur(source, (0, 0), sigma)
    return np.clip(face.astype(np.float32) + amount * band + 0.5, 0, 255).astype(np.uint8)


OWN_DETAIL_SCALE = 0.95  # crop px per frame px under which the frame is finer than the crop (a face bigger than it)


def add_own_detail(face: np.ndarray, original: np.ndarray, own: OwnPixels, inverse: np.ndarray,
                   origin: tuple[int, int]) -> np.ndarray:
    """``face`` (the swapped crop warped into the frame region at ``origin``, sized like it) with the
    detail the crop lost restored where it shows the target's own pixels (``own``).

    The band is exact, not a filter's guess: the frame's own pixels, moved as the swap moved them
    (``own.map_x``/``map_y``, carried into frame pixels), minus those same pixels as they reach the
    frame through the crop (``own.pixels`` warped back). Where ``own.weight`` is 1 the result is
    the frame's pixels, moved; B's paint (weight 0) gets none of the frame's detail, so no source
    outline lies over B's features (the double edges of the old detail band). Only the box where the
    weight is not 0 is worked (a mouth, a chin, two eyes: a fraction of the face's box)."""
    import cv2

    h, w = face.shape[:2]
    x0, y0 = origin
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    weight = cv2.warpAffine(own.weight, shifted, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
    left, top, width, height = cv2.boundingRect((weight > 1e-3).astype(np.uint8))
    if width == 0 or height == 0:
        return face
    bottom, right = top + height, left + width
    box = shifted.copy()
    box[:, 2] -= (left, top)  # crop -> the box
    size = (width, height)
    low = cv2.warpAffine(own.pixels, box, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if own.map_x is None or own.map_y is None:
        high = original[y0 + top:y0 + bottom, x0 + left:x0 + right]
    else:
        # where each box pixel's own pixel came from: the map read at the pixel's place in the crop
        # (warping the map as the face is warped does that), carried from the crop to the frame
        sx = cv2.warpAffine(own.map_x, box, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        sy = cv2.warpAffine(own.map_y, box, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back = inverse.astype(np.float32)
        fx = back[0, 0] * sx + back[0, 1] * sy + back[0, 2]
        fy = back[1, 0] * sx + back[1, 1] * sy + back[1, 2]
        high = cv2.remap(original, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    band = cv2.subtract(high, low, dtype=cv2.CV_16S)
    part = face[top:bottom, left:right]
    detailed = part + weight[top:bottom, left:right, None] * band
    out = face.copy()
    out[top:bottom, left:right] = np.clip(detailed + 0.5, 0, 255).astype(np.uint8)
    return out


def mouth_mask(landmarks_crop: np.ndarray, size: int, grow: float, feather_px: float) -> np.ndarray:
    """Feathered float mask of the outer lip contour (points 48-59), grown by ``grow`` x mouth width."""
    import cv2

    lips = np.asarray(landmarks_crop, np.float64)[48:60]
    centre = lips.mean(axis=0)
    width = float(np.linalg.norm(lips[6] - lips[0]))
    grown = centre + (lips - centre) * (1.0 + grow) + 0.0
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(grown * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    pad = max(1.0, grow * width * 0.5)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(pad) * 2 + 1,) * 2))
    sigma = max(1.0, feather_px / 3.0, 0.08 * width)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)


def keep_source_mouth(generated: np.ndarray, target: np.ndarray, landmarks_crop: np.ndarray, grow: float,
                      feather_px: float) -> np.ndarray:
    """The source's mouth (``target`` crop) inside the lip mask, its colour shifted to ``generated``'s."""
    import cv2

    size = generated.shape[0]
    mask = mouth_mask(landmarks_crop, size, grow, feather_px)
    ring = cv2.dilate((mask > 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & (mask < 0.5)
    source = target.astype(np.float32)
    if ring.sum() > 16:
        lab_gen = cv2.cvtColor(generated, cv2.COLOR_BGR2LAB).astype(np.float32)
        lab_src = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
        shift = lab_gen[ring].mean(axis=0) - lab_src[ring].mean(axis=0)
        source = cv2.cvtColor(np.clip(lab_src + shift, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
    alpha = mask[..., None]
    return np.clip(source * alpha + generated.astype(np.float32) * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


SKIN_SHARE_MIN = 0.1  # share of the mask the swap's skin must cover for the colour statistics to be read on it alone


def colour_region(mask: np.ndarray, skin: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Where the colour transfer's statistics are read, and the largest spread ratio it may apply
    there: the mask, times the swap's skin (``Face.swapped_skin``) with ``SKIN_SPREAD`` when it gives
    one that covers ``SKIN_SHARE_MIN`` of the mask; else the whole mask with ``RCT_SPREAD``.

    Why skin only: the painted person's eyes, brows and lips are not the target's, by design (dark
    brown eyes on a blue-eyed man, thin lips on full ones). Read over the whole mask, they pulled the
    mean and spread of every channel, and the spread ratio flattened the painted face's shading
    (``lp_d18``'s skin contrast 1.20 x the footage's, 0.97 on skin only); as the mouth opened and shut
    the statistics moved with it, and the face's colour pulsed (``lp_d18`` flicker 1.10 -> 0.92).
    Read on skin, the spread ratio is kept within ``SKIN_SPREAD``: a target's blotchy skin against B's
    even skin asked for twice the redness spread, and B's lips, far from the skin's mean, turned
    magenta (a green-screen clip of a man, ``eamm_video_happy_man``)."""
    if skin is not None:
        region = mask * np.clip(skin, 0.0, 1.0)
        if float(region.sum()) >= SKIN_SHARE_MIN * float(mask.sum()):
            return region, SKIN_SPREAD
    return mask, RCT_SPREAD


class BlendStage(Stage):
    name = "blend"
    requires = ("swap",)
    Config = BlendConfig

    def __init__(self, config: BlendConfig | None, keep_masks: bool = False) -> None:
        """``keep_masks``: put each frame's exact blend mask on ``frame.meta["blend_mask"]`` (float32,
        frame size, 0 where untouched); a corpus build encodes it as the mask video."""
        super().__init__(config or BlendConfig())
        self.tracks: dict[int, _Track] = {}
        self.faces_blended = 0
        self.frames_blended = 0
        self._previous: tuple[int, np.ndarray, np.ndarray] | None = None
        self._flicker_in = 0.0
        self._flicker_out = 0.0
        self._masks: MaskWriter | None = None
        self.keep_masks = keep_masks

    def open(self, context: StageContext) -> None:
        super().open(context)
        if self.config.masks_dir:
            self._masks = MaskWriter(self.config.masks_dir, create_parents=True)
        self._segmenter = None
        if self.config.occlusion == "xseg":
            from models import BUNDLED_SEGMENTER
            from models.segmenter_cpu import open_segmenter

            self._segmenter = open_segmenter(self.config.occlusion_model or BUNDLED_SEGMENTER, context.device)

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            original = frame.image
            wants_mask = self._masks is not None or self.keep_masks
            frame_mask = np.zeros(original.shape[:2], np.float32) if wants_mask else None
            output = original
            touched = False
            for face in frame.faces:
                if not face.selected or face.swapped is None or face.inverse is None or face.matrix is None:
                    continue
                if not touched:
                    output = original.copy()
                    touched = True
                self._blend_face(frame.index, original, output, face, frame_mask)
                self.faces_blended += 1
            if touched:
                self.frames_blended += 1
                self._measure_flicker(frame, original, output)
                frame.image = output
            if frame_mask is not None and self._masks is not None:
                self._masks.write(frame.index, frame_mask)
            if frame_mask is not None and self.keep_masks:
                frame.meta["blend_mask"] = frame_mask
        return batch

    # -- one face -------------------------------------------------------------------------------
    def _blend_face(self, index: int, original: np.ndarray, output: np.ndarray, face: Face,
                    frame_mask: np.ndarray | None) -> None:
        import cv2
        cfg: BlendConfig = self.config
        size = face.swapped.shape[0]
        scale = similarity_scale(face.matrix)
        track = self.tracks.setdefault(face.track_id, _Track()) if face.track_id >= 0 else _Track()
        fresh = index - track.last_index > 2  # a gap (or new track) restarts the smoothing
        track.last_index = index

        hull = face.mask if face.mask is not None else np.ones((size, size), np.float32)
        if hull.shape[0] != size:
            hull = cv2.resize(hull, (size, size), interpolation=cv2.INTER_LINEAR)
        mask = hull
        if cfg.use_model_mask and face.swapped_mask is not None:
            mask = hull * np.clip(face.swapped_mask, 0.0, 1.0)
        mask = shape_mask(mask, cfg.erosion * scale, cfg.feather * scale)
        if cfg.temporal > 0 and not fresh and track.mask is not None and track.mask.shape == mask.shape:
            mask = cfg.temporal * track.mask + (1 - cfg.temporal) * mask
        track.mask = mask
        if self._segmenter is not None and face.crop is not None:
            visible = self._segmenter.visible(face.crop)
            if visible.shape != mask.shape:
                visible = cv2.resize(visible, mask.shape[::-1], interpolation=cv2.INTER_LINEAR)
            mask = np.minimum(mask, shape_mask(visible, cfg.erosion * scale, cfg.feather * scale))

        target = cv2.warpAffine(original, face.matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        generated = face.swapped[..., :3]
        painted = generated
        if cfg.color == "rct":
            region, spread = colour_region(mask, face.swapped_skin)
            stats = np.concatenate([lab_stats(generated, region), lab_stats(target, region)])
            if cfg.temporal > 0 and not fresh and track.stats is not None:
                stats = cfg.temporal * track.stats + (1 - cfg.temporal) * stats
            track.stats = stats
            generated = apply_rct(generated, stats, spread)
        elif cfg.color == "hist":
            generated = match_histograms(generated, target, mask)
        if cfg.color != "none" and face.swapped_own is not None:
            # the target's own pixels in the swap are in its colour already: the transfer, fitted to
            # the painted face, turned a dark mouth green inside red lips
            own = np.clip(face.swapped_own, 0.0, 1.0).astype(np.float32)
            generated = cv2.blendLinear(painted, generated, own, 1.0 - own)
        if cfg.mouth == "source" and face.landmarks is not None:
            generated = keep_source_mouth(generated, target, transform(face.landmarks, face.matrix), cfg.mouth_grow,
                                          cfg.feather * scale)

        sigma = 0.0
        if cfg.detail > 0 and face.swapped_resolution:
            sigma = cfg.detail_band * (size / face.swapped_resolution) / max(scale, 1e-6)  # model pixels -> frame px
        own = face.swapped_own_pixels if scale < OWN_DETAIL_SCALE else None
        self._paste(output, generated, mask, face.inverse, cfg.method, frame_mask, sigma, cfg.detail,
                    own=own, original=original)

    @staticmethod
    def _paste(output: np.ndarray, crop: np.ndarray, mask: np.ndarray, inverse: np.ndarray, method: str,
               frame_mask: np.ndarray | None, detail_sigma: float = 0.0, detail: float = 0.0,
               own: OwnPixels | None = None, original: np.ndarray | None = None) -> None:
        import cv2
        x0, y0, x1, y1 = crop_region(inverse, crop.shape[0], output.shape, (1, 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        shifted = inverse.copy()
        shifted[:, 2] -= (x0, y0)
        region = (x1 - x0, y1 - y0)
        face = cv2.warpAffine(crop, shifted, region, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(mask, shifted, region, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha = np.clip(alpha, 0.0, 1.0)
        roi = output[y0:y1, x0:x1]
        if method == "seamless" and (alpha > 0.5).sum() > 64:
            binary = (alpha > 0.5).astype(np.uint8) * 255
            ys, xs = np.nonzero(binary)
            centre = (int((xs.min() + xs.max()) / 2), int((ys.min() + ys.max()) / 2))
            try:
                cloned = cv2.seamlessClone(face, np.ascontiguousarray(roi), binary, centre, cv2.NORMAL_CLONE)
                face = cloned
            except cv2.error:
                pass  # mask touching the border: fall back to alpha compositing
        if detail_sigma >= 0.5 and detail > 0:
            face = add_detail(face, roi, detail_sigma, detail)
        if own is not None and original is not None:
            face = add_own_detail(face, original, own, inverse, (x0, y0))
        # per-pixel weights: where alpha is 0 the result is exactly the old pixel
        roi[:] = cv2.blendLinear(face, np.ascontiguousarray(roi), alpha, 1.0 - alpha)
        if frame_mask is not None:
            np.maximum(frame_mask[y0:y1, x0:x1], alpha, out=frame_mask[y0:y1, x0:x1])

    # -- diagnostics ----------------------------------------------------------------------------
    def _measure_flicker(self, frame: Frame, original: np.ndarray, output: np.ndarray) -> None:
        """Accumulate frame-to-frame change inside each swapped face's box, input vs output."""
        import cv2
        gray_in = cv2.cvtColor(original, cv2.COLOR_BGR2GRAY).astype(np.int16)
        gray_out = cv2.cvtColor(output, cv2.COLOR_BGR2GRAY).astype(np.int16)
        previous = self._previous
        if previous is not None and previous[0] == frame.index - 1:
            h, w = gray_in.shape
            for face in frame.faces:
                if not face.selected or face.swapped is None:
                    continue
                x0, y0, x1, y1 = (int(v) for v in np.clip(np.round(face.box), 0, [w, h, w, h]))
                if x1 - x0 < 4 or y1 - y0 < 4:
                    continue
                self._flicker_in += float(np.abs(gray_in[y0:y1, x0:x1] - previous[1][y0:y1, x0:x1]).mean())
                self._flicker_out += float(np.abs(gray_out[y0:y1, x0:x1] - previous[2][y0:y1, x0:x1]).mean())
        self._previous = (frame.index, gray_in, gray_out)

    def summary(self) -> BlendSummary:
        ratio = self._flicker_out / self._flicker_in if self._flicker_in > 0 else None
        return BlendSummary(self.faces_blended, self.frames_blended, round(self._flicker_in, 3),
                            round(self._flicker_out, 3), None if ratio is None else round(ratio, 3))
