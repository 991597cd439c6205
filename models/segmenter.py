"""A small U-Net that says which pixels of an aligned face crop are visible face (XSeg-like).

Why: whatever is in front of a face (fingers, a hand, a microphone, a surgical mask) must keep its own
pixels when a swapped face is pasted back. The landmark hull cannot know that: dlib places the 68
points under the hand as if it were not there. This network is trained here (``python -m
stages.occlusion.train_segmenter``) on our facesets with synthetic occluders composited in (fingers drawn
in the face's own skin tone, object photos, textured patches, hair strands), so it learns what a
face looks like rather than the outline of any one occluder.

Input: aligned crops as the align stage makes them (BGR uint8, any square size; resized to the
network's resolution). Output: (N, H, W) float32 in [0, 1] at the input size, 1 = visible face.
Weights are safetensors with the architecture in the header, like the swap models
(``SEGMENTERS.load(name).from_header(meta)``); the card (``segmenter.json``) records how it was made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from models import SEGMENTERS
from pipeline.errors import FacepipeError

ARCHITECTURE = "facepipe-xseg-unet-v1"
BUNDLED_SEGMENTER = Path(__file__).resolve().parent / "segmenter" / "segmenter.safetensors"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SegmenterNet(nn.Module):
    """U-Net on a half-resolution stem: 4 scales (R/2 .. R/16), widths ``width`` x (1, 2, 4, 6).

    Why the stem: on a shared 2-core CPU a full-resolution U-Net trains at a few steps a minute. A
    strided first convolution does the U-Net's work at R/2 (4x fewer operations); the logits are
    upsampled and refined by one convolution that also sees the full-resolution input, so edges
    still land on pixels.
    """

    architecture = ARCHITECTURE

    def __init__(self, resolution: int = 64, width: int = 16) -> None:
        super().__init__()
        if resolution % 16 or not 32 <= resolution <= 256 or not 4 <= width <= 64:
            raise ValueError(f"resolution {resolution} (multiple of 16, 32..256) / width {width} (4..64)")
        self.resolution, self.width = resolution, width
        w = (width, width * 2, width * 4, width * 6)
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, stride=2, padding=1), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.enc = nn.ModuleList([_block(w[0], w[0]), _block(w[0], w[1]), _block(w[1], w[2]), _block(w[2], w[3])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(3)])
        self.dec = nn.ModuleList([_block(w[i] * 2, w[i]) for i in range(3)])
        self.refine = nn.Sequential(nn.Conv2d(w[0] + 3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,R,R) in [0,1] -> (N,1,R,R) logits."""
        image = x
        skips = []
        x = self.stem(x)
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for i in (2, 1, 0):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], dim=1))
        x = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.refine(torch.cat([x, image], dim=1))

    def header(self) -> dict[str, str]:
        return {"architecture": ARCHITECTURE, "resolution": str(self.resolution), "width": str(self.width)}

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "SegmenterNet":
        return cls(int(meta["resolution"]), int(meta["width"]))


def save_segmenter(net: SegmenterNet, path: Path, card: dict[str, Any]) -> None:
    """Weights (safetensors, header names the architecture) and the card beside them, both atomically."""
    from safetensors.torch import save_file

    from pipeline.media.atomic import atomic_path, write_json

    tensors = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path) as temp:
        save_file(tensors, str(temp), metadata=net.header())
    write_json(path.with_suffix(".json"), {**card, "architecture": ARCHITECTURE, **net.header()})


def load_segmenter_net(path: str | Path) -> SegmenterNet:
    """Validated load; every refusal is a one-line FacepipeError."""
    from models.checkpoint import read_tensors

    tensors, meta = read_tensors(Path(path))
    name = meta.get("architecture", "none recorded")
    if name not in SEGMENTERS:
        raise FacepipeError(f"{path}: segmenter architecture {name!r} is not one facepipe knows ({', '.join(SEGMENTERS)})")
    try:
        net = SEGMENTERS.load(name).from_header(meta)
        net.load_state_dict(tensors)
    except (KeyError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0]
        raise FacepipeError(f"{path}: tensors do not fit segmenter {name} ({reason})") from None
    return net.eval()


class Segmenter:
    """Inference wrapper: aligned crops in, visible-face masks out (at the crops' size)."""

    def __init__(self, path: str | Path = BUNDLED_SEGMENTER, device: str = "cpu") -> None:
        if not Path(path).is_file():
            raise FacepipeError(f"occlusion segmenter not found: {path} (set blend.occlusion_model, or "
                                f"blend.occlusion = \"none\")")
        self.net = load_segmenter_net(path).to(device)
        self.device = torch.device(device)
        self.resolution = self.net.resolution
        card = Path(path).with_suffix(".json")
        self.card = json.loads(card.read_text()) if card.is_file() else {}

    @torch.inference_mode()
    def __call__(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        if not crops:
            return []
        r = self.resolution
        small = np.stack([cv2.resize(c[..., :3], (r, r), interpolation=cv2.INTER_AREA) for c in crops])
        x = torch.from_numpy(small).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        probs = torch.sigmoid(self.net(x))[:, 0].cpu().numpy()
        return [cv2.resize(p, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR) for p, c in zip(probs, crops)]
