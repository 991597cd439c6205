"""Training augmentation of aligned crops: what compression, capture and occlusion do to a face.

JPEG, blur, low resolution, noise and colour follow the perturbations detectors meet in the wild (and that the
corpus's DeeperForensics variants test). ``--occlusion-augment`` adds the occlusion stage's own
occluders -- the same drawing code the attack searches with -- which is the hardening step: a
detector that has seen grey blocks, noise and bars over real and fake faces alike cannot read
"occluded" as "real".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.frame import Face, Frame
from pipeline.stage import StageContext

OCCLUDER_KINDS = ("block", "noise", "object")  # object without an image = the stage's black bar
OCCLUDER_ANCHORS = ("face", "eyes", "nose", "mouth", "cheek", "lower")


@dataclass
class AugmentRates:
    flip: float = 0.5
    jpeg: float = 0.3
    blur: float = 0.2
    noise: float = 0.2
    colour: float = 0.3
    occlusion: float = 0.0
    rescale: float = 0.0


class CropOccluder:
    """Draws one random occluder of the occlusion stage onto a crop (the crop is the 'frame')."""

    def __init__(self) -> None:
        from stages.occlude import OccludeConfig, OccludeStage

        self.stages = {}
        for kind in OCCLUDER_KINDS:
            for anchor in OCCLUDER_ANCHORS:
                stage = OccludeStage(OccludeConfig(mode="random", kind=kind, anchor=anchor, level=0))
                stage.open(StageContext(video=None, config=stage.config, warn=lambda message: None))  # type: ignore[arg-type]
                self.stages[kind, anchor] = stage

    def __call__(self, crop: np.ndarray, box: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
                 kind: str | None = None, level: int = 0) -> tuple[np.ndarray, float]:
        """The occluded copy and the share of the face box covered."""
        kind = kind or OCCLUDER_KINDS[int(rng.integers(len(OCCLUDER_KINDS)))]
        anchor = OCCLUDER_ANCHORS[int(rng.integers(len(OCCLUDER_ANCHORS)))] if not level else "face"
        stage = self.stages[kind, anchor]
        stage.config.level = level
        frame = Frame(index=int(rng.integers(1 << 30)), pts=0.0, image=np.ascontiguousarray(crop.copy()))
        face = Face(box=np.asarray(box, np.float32), landmarks=np.asarray(landmarks, np.float32))
        record = stage.occlude_face(frame, face, 0)
        return frame.image, float(record.get("area", 0.0))


def augment(crop: np.ndarray, rng: np.random.Generator, rates: AugmentRates, occluder: CropOccluder | None = None,
            box: np.ndarray | None = None, landmarks: np.ndarray | None = None) -> np.ndarray:
    """One randomly augmented copy of a BGR uint8 crop."""
    out = crop
    if occluder is not None and box is not None and landmarks is not None and rng.random() < rates.occlusion:
        out, _ = occluder(out, box, landmarks, rng)
    if rng.random() < rates.colour:
        out = colour_jitter(out, rng)
    if rng.random() < rates.blur:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 1.5)))
    if rates.rescale and rng.random() < rates.rescale:
        out = low_resolution(out, rng)
    if rng.random() < rates.noise:
        noisy = out.astype(np.float32) + rng.normal(0.0, rng.uniform(2.0, 8.0), out.shape).astype(np.float32)
        out = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < rates.jpeg:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if rng.random() < rates.flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def low_resolution(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop of a face filmed 50-150 px wide: area down to that width, linear back up (what the
    aligner does to a small face), so a soft real face is not taken for a blended one."""
    from models.inputs import resize_to

    size = crop.shape[0]
    small = int(rng.integers(50, 151))
    if small >= size:
        return crop
    return resize_to(resize_to(crop, small, "area-down-linear-up"), size, "area-down-linear-up")


def colour_jitter(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness +-20 levels, contrast x0.8-1.2, saturation x0.7-1.3."""
    img = crop.astype(np.float32)
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.7, 1.3)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.8, 1.2) + mean + rng.uniform(-20, 20)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
