"""The occlusion stage: cover part of each face, at random (robustness corpora) or adversarially.

``mode = "random"`` draws one occluder per selected face (``patch``, ``block``, ``noise`` or
``object``) in the region asked for, at the level asked for. ``mode = "attack"`` searches placements
per face until a fake-face classifier (the bundled deepfake detector by default, a detector folder, the swap
model's discriminator, or a TorchScript file) gives
P(fake) below ``threshold`` or ``budget`` queries are spent, and keeps the best placement found.

Reproducible bit for bit: each face draws from its own generator seeded by (seed, frame index, track
id), so results do not depend on batch sizes, threads or which other faces are on the frame.
Drawing and geometry live in ``stages.occlusion.occluders``, the search in ``stages.occlusion.attack``,
classifiers in ``stages.occlusion.classifier`` and the sidecar/masks in ``stages.occlusion.report``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.frame import Face, Frame
from stages.faces.geometry import align_matrix, crop_region, invert
from pipeline.media.occluder_images import black_bar, load_object, load_source
from stages.occlusion.occluders import ANCHORS, KINDS, Occluder, draw, draw_placement, face_region, noise_field
from stages.occlusion.attack import CropSampler, search, union
from pipeline.media.masks import MaskWriter
from stages.occlusion.report import JsonlSidecar, OccludeSummary, Totals
from pipeline.stage import Stage, StageContext


@dataclass
class OccludeConfig:
    """The ``[occlude]`` table."""

    mode: str = option("random", "random: draw one occluder per face (robustness corpora); attack: search placements "
                       "until the classifier calls the face real or the budget is spent", choices=("random", "attack"))
    kind: str = option("block", "occluder: patch (cut from `image`), block (grey 8x8 blocks, DeeperForensics), noise "
                       "(Gaussian-noise rectangle), object (`image` with its backdrop keyed out; none = a black bar)",
                       choices=KINDS)
    anchor: str = option("face", "where: face = anywhere in the face box; eyes, nose, mouth, cheek (one side at "
                         "random), lower (nose to chin, a surgical mask) follow the landmarks", choices=ANCHORS)
    level: int = option(3, "strength 1-5: share of the region covered (blocks: 16 x level); 0 = a random level per face",
                        min=0, max=5)
    seed: int = option(0, "random seed; the same seed gives byte-identical frames", min=0)
    image: str = option("", "patch: the image patches are cut from (required); object: the occluder photo "
                        "(empty = a black bar)")
    key: str = option("auto", "object backdrop key: auto (the brightest border colour), none, or a colour '#rrggbb'")
    key_tolerance: float = option(10.0, "key: largest colour distance to the backdrop that is keyed out (8-bit Lab)",
                                  min=0.0, max=255.0)
    grey: int = option(128, "grey level of blocks, and the mean of the noise", min=0, max=255)
    noise_sigma: float = option(64.0, "standard deviation of the noise", unit="levels", min=0.0, max=255.0)
    block_size: int = option(8, "side of the grey blocks", unit="px", min=1, max=256)
    classifier: str = option("detector", "attack: detector (the bundled deepfake detector), a detector folder made by "
                             "`facepipe detector train`, discriminator (the swap model's, for `identity`), or a "
                             "TorchScript file mapping (N,3,S,S) RGB [0,1] crops to P(fake)")
    model: str = option("", "swap model whose discriminator is attacked; empty = swap.model under `facepipe attack --swap`, "
                        "else the bundled model")
    identity: str = option("auto", "whose discriminator: a, b, or auto (the swap direction's target; b without swap)",
                           choices=("auto", "a", "b"))
    classifier_output: str = option("probability", "what a TorchScript classifier returns: probability or logit of fake",
                                    choices=("probability", "logit"))
    classifier_size: int = option(0, "resize crops to this side for a TorchScript classifier; 0 = the crop size",
                                  unit="px", min=0, max=4096)
    threshold: float = option(0.5, "attack: a face is fooled when P(fake) drops below this", min=0.0, max=1.0)
    budget: int = option(64, "attack: most classifier queries per face, the unoccluded one included", unit="queries",
                         min=1, max=1_000_000)
    batch: int = option(16, "attack: placements scored per classifier call", min=1, max=4096)
    crop_size: int = option(256, "attack: crop side when faces were not aligned (no align stage)", unit="px",
                            min=16, max=4096)
    report: str = option("", "JSONL sidecar: one line per frame and face (kind, box, level, scores); empty = none")
    masks_dir: str = option("", "write each frame's occluder mask as a PNG into this folder; empty = none")


class OccludeStage(Stage):
    """Occludes every selected face; see the module docstring."""

    name = "occlude"
    requires = ("detect",)
    Config = OccludeConfig

    def __init__(self, config: OccludeConfig | None) -> None:
        super().__init__(config or OccludeConfig())
        self.totals = Totals()
        self.occluder: Occluder | None = None
        self.classifier: Any = None
        self.sidecar: JsonlSidecar | None = None
        self.masks: MaskWriter | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self, context: StageContext) -> None:
        super().open(context)
        cfg: OccludeConfig = self.config
        self.occluder = build_occluder(cfg, context.warn)
        if cfg.mode == "attack":
            from stages.occlusion.classifier import load_classifier

            identity = "b" if cfg.identity == "auto" else cfg.identity  # `attack --swap` resolves auto
            model = cfg.model
            self.classifier = load_classifier(cfg.classifier, model=model, identity=identity, device=context.device,
                                              size=cfg.classifier_size, output=cfg.classifier_output)
        self.sidecar = JsonlSidecar(cfg.report) if cfg.report else None
        self.masks = MaskWriter(cfg.masks_dir) if cfg.masks_dir else None

    def close(self, ok: bool) -> None:
        if self.sidecar is not None:
            self.sidecar.close(ok)
            self.sidecar = None

    def summary(self) -> OccludeSummary | None:
        return self.totals.summary(self.config.mode == "attack") if self.totals.frames else None

    # -- frames ------------------------------------------------------------------------------------

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            mask = np.zeros(frame.image.shape[:2], np.float32) if self.masks is not None else None
            for number, face in enumerate(frame.faces):
                if not face.selected:
                    continue
                record = self.occlude_face(frame, face, number, mask)
                if self.sidecar is not None:
                    self.sidecar.write(record)
            if self.masks is not None:
                self.masks.write(frame.index, mask)
            self.totals.frames += 1
        return batch

    def occlude_face(self, frame: Frame, face: Face, number: int, mask: np.ndarray | None = None) -> dict[str, Any]:
        """Occlude one face in place on ``frame.image``; returns its sidecar record."""
        cfg: OccludeConfig = self.config
        assert self.occluder is not None, "open() first"
        self.totals.faces += 1
        rng = face_rng(cfg.seed, frame.index, face.track_id, number)
        random_level, side = int(rng.integers(1, 6)), int(rng.integers(2))  # always drawn: fixed stream order
        level = cfg.level or random_level
        region = face_region(face, cfg.anchor, side)
        placement = draw_placement(rng)
        record: dict[str, Any] = {"frame": frame.index, "pts": round(frame.pts, 6), "face": number,
                                  "track_id": face.track_id, "box": [round(float(v), 2) for v in face.box],
                                  "kind": cfg.kind, "level": level, **region.record()}
        roi = region.bounds(frame.image.shape)
        attack = cfg.mode == "attack"
        matrix, size = (self._alignment(face) if attack else (None, 0))
        if attack and matrix is None:
            return self._skip(record, "no landmarks or alignment to crop the face for the classifier")
        if attack:
            # the pixels the classifier's crop reads: 2 for interpolation, 1 more for the exclusive end
            roi = union(roi, crop_region(invert(matrix), size, frame.image.shape, (2, 3)))
        x0, y0, x1, y1 = roi
        region_mask = region.mask(roi)
        if not region_mask.any():
            return self._skip(record, "region outside the frame")
        base = frame.image[y0:y1, x0:x1].copy()
        noise = noise_field(rng, base.shape[:2], cfg.grey, cfg.noise_sigma) if cfg.kind == "noise" else None

        def render(p):  # noqa: ANN001, ANN202 - a Placement -> Drawn closure
            return draw(self.occluder, region, level, p, base, roi, region_mask, noise, searched=attack)

        if attack:
            sampler = CropSampler(matrix, size)
            started = time.perf_counter()
            outcome = search(render, self.classifier.fake_probability, lambda image: sampler.cut(image, (x0, y0)),
                             base, placement, rng, cfg.budget, cfg.threshold, cfg.batch)
            self.totals.attack_seconds += time.perf_counter() - started
            drawn = outcome.drawn
            self.totals.before.append(outcome.before)
            self.totals.after.append(outcome.after)
            self.totals.queries.append(outcome.queries)
            self.totals.fooled += int(outcome.fooled)
            self.totals.already_real += int(outcome.drawn is None and outcome.fooled)
            record.update({"classifier": self.classifier.name, "score_before": outcome.before,
                           "score_after": outcome.after, "queries": outcome.queries, "fooled": outcome.fooled,
                           "threshold": cfg.threshold, "crop_size": size,
                           "matrix": [[float(v) for v in row] for row in matrix]})
            if outcome.placement is not None:
                record["placement"] = outcome.placement.record()
        else:
            drawn = render(placement)
            record["placement"] = placement.record()
        if drawn is None:  # attack: already passed as real, or no placement lowered P(fake)
            record.update({"occluded": False, "rect": None, "occluder_box": None, "pixels": 0, "area": 0.0})
            return record
        frame.image[y0:y1, x0:x1] = drawn.image
        if mask is not None:
            np.maximum(mask[y0:y1, x0:x1], drawn.alpha, out=mask[y0:y1, x0:x1])
        box_area = max(1.0, face.width * face.height)
        area = float(drawn.alpha.sum()) / box_area
        self.totals.occluded += 1
        self.totals.area.append(area)
        record.update({"occluded": True, "rect": [round(v, 4) for v in drawn.rect], "occluder_box": drawn.box(),
                       "pixels": drawn.pixels(), "area": round(area, 6), **drawn.extra})
        face.extras["occlusion"] = {k: record[k] for k in ("kind", "level", "anchor", "occluder_box", "area")}
        return record

    def _alignment(self, face: Face) -> tuple[np.ndarray | None, int]:
        """The face's frame->crop matrix and crop side (from the align stage, else fitted here)."""
        if face.matrix is not None:
            size = face.crop.shape[0] if face.crop is not None else self.config.crop_size
            return np.asarray(face.matrix, np.float64), int(size)
        if face.landmarks is not None:
            return align_matrix(face.landmarks, self.config.crop_size)[0], self.config.crop_size
        return None, 0

    def _skip(self, record: dict[str, Any], reason: str) -> dict[str, Any]:
        self.totals.skipped += 1
        record.update({"skipped": reason, "occluded": False, "rect": None, "occluder_box": None, "pixels": 0,
                       "area": 0.0})
        return record


def face_rng(seed: int, frame_index: int, track_id: int, number: int) -> np.random.Generator:
    """A generator for one face: (seed, frame, track) — the face's position in the list when untracked."""
    key = track_id if track_id >= 0 else (1 << 32) + number
    return np.random.default_rng([seed, frame_index, key])


def build_occluder(cfg: OccludeConfig, warn: Any = print) -> Occluder:
    """Load and check the occluder's material; bad paths are one-line errors before any frame."""
    image = None
    if cfg.kind == "patch":
        if not cfg.image:
            raise FacepipeError("occlude.kind = 'patch' needs occlude.image: the picture patches are cut from")
        image = load_source(cfg.image)
    elif cfg.kind == "object":
        image = load_object(cfg.image, cfg.key, cfg.key_tolerance) if cfg.image else black_bar()
        if image.key_failed:
            warn(f"occlude.image = {cfg.image!r}: the backdrop key would remove {image.keyed:.0%} of the picture; "
                 "using it unkeyed (set occlude.key to the backdrop colour, or 'none')")
    elif cfg.image:
        warn(f"occlude.image is ignored for occlude.kind = {cfg.kind!r}")
    return Occluder(cfg.kind, image, cfg.grey, cfg.noise_sigma, cfg.block_size)
