"""DeeperForensics-1.0 perturbations with their exact parameters, applied to every frame of a video.

The seven types and five levels are those of DeeperForensics' ``perturbation/`` scripts (Jiang et al.,
CVPR 2020), re-implemented here from their description:

| type | levels 1-5 | what |
|------|------------|------|
| CS   | 0.4 0.3 0.2 0.1 0.0        | saturation: Cb/Cr scaled around 0.5 |
| CC   | 0.85 0.725 0.6 0.475 0.35  | contrast: pixel x value |
| BW   | 16 32 48 64 80             | (min(h,w)//256) x value grey 8x8 blocks at random places, per frame |
| GNC  | 0.001 0.002 0.005 0.01 0.05 | sqrt(value) x N(0,1) noise added in YCbCr |
| GB   | 7 9 13 17 21               | Gaussian blur, kernel k, sigma k/6 |
| JPEG | 2 3 4 5 6                  | downscale by the factor and back up (what their "JPEG" code does) |
| VC   | 30 32 35 38 40             | x264 re-encode at that CRF (done as an encode/decode round trip) |

A *variant* is an ordered list of (type, level): ``CS:3`` or a mix ``CS:3+GB:2``, applied in that order.
VC is always applied last (it re-encodes the finished stream).
``random`` draws one type and level per video, ``random2``..``random4`` a mix of that many distinct types,
seeded by the corpus seed and the video, so a re-run draws the same. BW's block count uses
``max(1, min(h,w)//256)`` so videos under 256 px still get blocks (their formula gives 0 there).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.errors import FacepipeError

LEVELS: dict[str, tuple[float, ...]] = {
    "CS": (0.4, 0.3, 0.2, 0.1, 0.0),
    "CC": (0.85, 0.725, 0.6, 0.475, 0.35),
    "BW": (16, 32, 48, 64, 80),
    "GNC": (0.001, 0.002, 0.005, 0.01, 0.05),
    "GB": (7, 9, 13, 17, 21),
    "JPEG": (2, 3, 4, 5, 6),
    "VC": (30, 32, 35, 38, 40),
}
FRAME_TYPES = ("CS", "CC", "BW", "GNC", "GB", "JPEG")  # VC works on the stream, not on single frames


def saturation(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float32) / 255.0
    ycrcb[..., 1:] = 0.5 + (ycrcb[..., 1:] - 0.5) * value
    return cv2.cvtColor(np.clip(ycrcb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)


def contrast(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image.astype(np.float32) * value + 0.5, 0, 255).astype(np.uint8)


def block_wise(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    width = 8
    count = int(value) * max(1, min(h, w) // 256)
    ys = rng.integers(0, max(1, h - width), count)
    xs = rng.integers(0, max(1, w - width), count)
    for y, x in zip(ys, xs):
        out[y:y + width, x:x + width] = 128
    return out


def colour_noise(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float32) / 255.0
    ycrcb += np.sqrt(value) * rng.standard_normal(ycrcb.shape, dtype=np.float32)
    return cv2.cvtColor(np.clip(ycrcb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2BGR)


def blur(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    k = int(value)
    return cv2.GaussianBlur(image, (k, k), k / 6.0)


def jpeg_resize(image: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // int(value)), max(1, h // int(value))))
    return cv2.resize(small, (w, h))


FUNCTIONS = {"CS": saturation, "CC": contrast, "BW": block_wise, "GNC": colour_noise, "GB": blur, "JPEG": jpeg_resize}


@dataclass(frozen=True)
class Step:
    kind: str
    level: int  # 1..5

    @property
    def value(self) -> float:
        return LEVELS[self.kind][self.level - 1]

    def tag(self) -> str:
        return f"{self.kind}:{self.level}"


_STEP = re.compile(r"^(?P<kind>[A-Za-z]+):(?P<level>[1-5])$")
_RANDOM = re.compile(r"^random(?P<n>[1-4])?$")


def parse_variant(text: str) -> str:
    """Check one ``--perturb`` item and return its canonical spelling (``CS:3+GB:2``, ``random2``)."""
    text = text.strip()
    if _RANDOM.match(text):
        return text
    steps = []
    for part in text.split("+"):
        match = _STEP.match(part.strip())
        if not match or match["kind"].upper() not in LEVELS:
            raise FacepipeError(f"--perturb {text!r}: use TYPE:LEVEL with TYPE in {', '.join(LEVELS)} and LEVEL 1-5, "
                                f"mixes joined by + (CS:3+GB:2), or random / random2..random4")
        steps.append(f"{match['kind'].upper()}:{match['level']}")
    if len({s.split(':')[0] for s in steps}) != len(steps) or len(steps) > 4:
        raise FacepipeError(f"--perturb {text!r}: a mix takes 2-4 different types")
    steps.sort(key=lambda step: step.startswith("VC:"))  # VC re-encodes the finished stream: always last
    return "+".join(steps)


def folder_name(variant: str) -> str:
    """``perturbed/<TYPE>_<LEVEL>`` (mixes joined by ``+``, random draws under ``random``/``randomN``)."""
    return "perturbed/" + variant.replace(":", "_")


def resolve(variant: str, seed: int, video_key: str) -> list[Step]:
    """The steps one video gets: fixed for TYPE:LEVEL mixes, drawn per video (seeded) for random."""
    match = _RANDOM.match(variant)
    if not match:
        return [Step(kind, int(level)) for kind, level in (part.split(":") for part in variant.split("+"))]
    draw = random.Random(f"{seed}:{variant}:{video_key}")
    kinds = draw.sample(sorted(LEVELS), int(match["n"] or 1))
    steps = [Step(kind, draw.randint(1, 5)) for kind in kinds]
    return sorted(steps, key=lambda step: step.kind == "VC")  # in order of application


class FramePerturber:
    """Applies a variant's frame-wise steps to each frame; VC steps are returned by :attr:`crf` for the encoder."""

    def __init__(self, steps: list[Step], seed: int) -> None:
        self.steps = steps
        self.rng = np.random.default_rng(seed)

    @property
    def crfs(self) -> list[int]:
        """Re-encodes asked for (in order); applied as x264 round trips before the final encode."""
        return [int(s.value) for s in self.steps if s.kind == "VC"]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        for step in self.steps:
            if step.kind != "VC":
                image = FUNCTIONS[step.kind](image, step.value, self.rng)
        return image
