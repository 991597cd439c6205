"""Occlusion variants of a corpus: the occlusion stage's occluders on every frame, real and fake alike.

A variant is ``KIND:LEVEL`` or ``KIND:LEVEL:ANCHOR`` with the kinds, levels and anchors that
``stages.occlusion.occluders`` defines (``block:3``, ``noise:2``, ``object:5:lower``); its videos go
to ``occluded/<KIND>_<LEVEL>[_<ANCHOR>]/`` in the FaceForensics++ layout, as perturbations go to
``perturbed/``. The anchor defaults to ``face`` (anywhere in the face box), so the folder name says
everything about the placement rule.

Why one placement per video: an occluder in a real video (a hand, a mask, a sticker) stays on the
face; it does not jump every frame. So each (target video, variant) draws its placement once, from a
generator seeded by (corpus seed, target video, variant), and every frame draws it in the region of
that frame's cached face, so it follows the face. The real video and every fake made on it share the
target's cached faces and this seed, so they get exactly the same occluder: a real/fake pair differs
only by the manipulation. The ``noise`` kind's noise is redrawn per frame from (seed, frame index),
also the same for real and fake.

The material comes from the ``[occlude]`` table (``image``, ``key``, ``key_tolerance``, ``grey``,
``noise_sigma``, ``block_size``); its ``mode``, ``kind``, ``level``, ``anchor`` and ``seed`` are not
used (the variant and the corpus seed decide those). A ``patch`` variant needs ``occlude.image``.
Frames without a cached face are left as they are; the manifest counts the occluded frames.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame

FOLDER = "occluded"
_SPEC = re.compile(r"^(?P<kind>[a-z]+):(?P<level>\d+)(?::(?P<anchor>[a-z]+))?$")


@dataclass(frozen=True)
class Occlusion:
    kind: str
    level: int
    anchor: str = "face"

    def tag(self) -> str:
        """Canonical spelling: ``block:3``, ``object:5:lower``."""
        return f"{self.kind}:{self.level}" + (f":{self.anchor}" if self.anchor != "face" else "")

    def folder(self) -> str:
        """``occluded/block_3``, ``occluded/object_5_lower``."""
        return f"{FOLDER}/" + self.tag().replace(":", "_")

    def record(self, seed: int) -> dict[str, Any]:
        """The manifest's ``occlusion`` field (``frames`` is added once the video is rendered)."""
        return {"kind": self.kind, "level": self.level, "anchor": self.anchor, "seed": seed}


def parse_occlusion(text: str) -> Occlusion:
    """Check one ``--occlude`` item; a one-line error names what is allowed."""
    from stages.occlusion.occluders import ANCHORS, KINDS, LEVELS

    match = _SPEC.match(text.strip().lower())
    if (not match or match["kind"] not in KINDS or int(match["level"]) not in LEVELS
            or (match["anchor"] or "face") not in ANCHORS):
        raise FacepipeError(f"--occlude {text!r}: use KIND:LEVEL or KIND:LEVEL:ANCHOR with KIND in {', '.join(KINDS)}, "
                            f"LEVEL {LEVELS[0]}-{LEVELS[-1]} and ANCHOR in {', '.join(ANCHORS)} (block:3, object:5:lower)")
    return Occlusion(match["kind"], int(match["level"]), match["anchor"] or "face")


def from_record(record: dict[str, Any]) -> Occlusion:
    return Occlusion(str(record.get("kind")), int(record.get("level") or 0), str(record.get("anchor") or "face"))


def check_material(occlusions: list[Occlusion], material: Any) -> None:
    """Load each kind's material once before any job, so a missing patch image is one line, not N failures."""
    from stages.occlude import build_occluder

    for kind in dict.fromkeys(o.kind for o in occlusions):
        build_occluder(dataclasses.replace(material, kind=kind), warn=lambda message: None)


class FrameOccluder:
    """Draws one variant's occluder onto each frame's face; the placement is drawn once per video."""

    def __init__(self, occlusion: Occlusion, seed: int, material: Any) -> None:
        from stages.occlude import build_occluder
        from stages.occlusion.occluders import draw_placement

        self.occlusion = occlusion
        self.seed = seed
        self.material = material
        self.occluder = build_occluder(dataclasses.replace(material, kind=occlusion.kind), warn=lambda message: None)
        rng = np.random.default_rng(seed)
        self.side = int(rng.integers(2))  # which cheek, for anchor "cheek"
        self.placement = draw_placement(rng)
        self.frames = 0  # frames that got an occluder

    def __call__(self, frame: Frame) -> np.ndarray:
        """The frame with the occluder drawn on its faces (a copy; ``frame.image`` is left alone)."""
        from stages.occlusion.occluders import draw, face_region, noise_field

        image = frame.image
        drawn_any = False
        for face in frame.faces:
            region = face_region(face, self.occlusion.anchor, self.side)
            x0, y0, x1, y1 = roi = region.bounds(image.shape)
            region_mask = region.mask(roi)
            if not region_mask.any():
                continue
            base = image[y0:y1, x0:x1]
            noise = None
            if self.occlusion.kind == "noise":
                rng = np.random.default_rng([self.seed, frame.index])
                noise = noise_field(rng, base.shape[:2], self.material.grey, self.material.noise_sigma)
            drawn = draw(self.occluder, region, self.occlusion.level, self.placement, base, roi, region_mask, noise)
            if drawn.pixels():
                if not drawn_any:
                    image = image.copy()
                image[y0:y1, x0:x1] = drawn.image
                drawn_any = True
        self.frames += int(drawn_any)
        return image
