"""Where everything lives in a corpus: the FaceForensics++ tree, variants, cache and records.

    original_sequences/youtube/<comp>/videos/NNN.mp4
    manipulated_sequences/<Method>/<comp>/videos/TTT_SSS.mp4
    manipulated_sequences/<Method>/masks/videos/TTT_SSS.mp4       (the blend mask of every frame)
    perturbed/<VARIANT>/original_sequences/...  and  .../manipulated_sequences/...   (same layout)
    occluded/<KIND>_<LEVEL>[_<ANCHOR>]/...     occlusion-stage occluders on real and fake alike (same layout)
    splits/{train,val,test}.json                                   ([[target, source], ...] as FF++)
    manifest.jsonl, manifest.csv, perturbations.txt (DeeperForensics-style meta lines)
    .facepipe/faces/NNN/        cached faceset of input video NNN (extracted once)
    .facepipe/records/<key>.json  one per finished job: what it wrote (the manifest is rebuilt from these)
    .facepipe/plan.json         inputs, identities, numbering, pairs and splits of this corpus
    .facepipe/models/gan/       the multi-identity model trained for the gan method
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import FacepipeError

COMPRESSIONS = {"c0": 0, "c23": 23, "c40": 40}  # FF++'s compress script: CRF; c0 is libx264rgb lossless
ORIGINAL = "original_sequences/youtube"
MANIPULATED = "manipulated_sequences"
STATE = ".facepipe"


def check_compressions(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in COMPRESSIONS]
    if unknown or not names:
        raise FacepipeError(f"compression {unknown[0] if unknown else '(none)'!r}: use c0, c23 and/or c40")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Layout:
    root: Path

    def variant_root(self, variant: str) -> Path:
        """``""`` is the unperturbed tree; a perturbation or occlusion variant has a subtree of its own
        (``perturbed/CS_3``, ``occluded/block_3``)."""
        return self.root / variant if variant else self.root

    def original(self, number: str, compression: str, variant: str = "") -> Path:
        return self.variant_root(variant) / ORIGINAL / compression / "videos" / f"{number}.mp4"

    def fake(self, method: str, pair: str, compression: str, variant: str = "") -> Path:
        return self.variant_root(variant) / MANIPULATED / method / compression / "videos" / f"{pair}.mp4"

    def mask(self, method: str, pair: str, variant: str = "") -> Path:
        return self.variant_root(variant) / MANIPULATED / method / "masks" / "videos" / f"{pair}.mp4"

    def splits(self) -> Path:
        return self.root / "splits"

    def state(self) -> Path:
        return self.root / STATE

    def faces(self, number: str) -> Path:
        return self.state() / "faces" / number

    def records(self) -> Path:
        return self.state() / "records"

    def record(self, key: str) -> Path:
        return self.records() / f"{key}.json"

    def plan(self) -> Path:
        return self.state() / "plan.json"

    def gan_model(self) -> Path:
        return self.state() / "models" / "gan"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
