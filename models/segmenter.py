"""A small U-Net that says which pixels of an aligned face crop are visible face (XSeg-like).

Why: whatever is in front of a face (fingers, a hand, a microphone, a surgical mask) must keep its own
pixels when a swapped face is pasted back. The landmark hull cannot know that: dlib places the 68
points under the hand as if it were not there. This network is trained here (``python -m
models.train_segmenter``) on our facesets with synthetic occluders composited in (fingers drawn
in the face's own skin tone, object photos, textured patches, hair strands), so it learns what a
face looks like rather than the outline of any one occluder.

Input: aligned crops as the align stage makes them (BGR uint8, any square size; resized to the
network's resolution). Output: (N, H, W) float32 in [0, 1] at the input size, 1 = visible face.
Saved and loaded through ``models.family`` like every model; the card (``segmenter.json``) records how
it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from torch import nn

from models.family import InputContract, ModelCard, load_model_file, save_model
from models.inputs import to_input
from pipeline.errors import FacepipeError

from models import BUNDLED_SEGMENTER  # noqa: F401 - re-exported: callers name it with the class
from models.segmenter_cpu import ARCHITECTURE


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

    kind: ClassVar[str] = "segmenter"
    file_stem: ClassVar[str] = "segmenter"
    architecture: ClassVar[str] = ARCHITECTURE

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

    def input_contract(self) -> InputContract:
        return InputContract(self.resolution, "BGR", (0.0, 1.0), "none", "area")


def save_segmenter(net: SegmenterNet, path: Path, record: dict[str, Any]) -> ModelCard:
    """Weights and card into ``path``'s folder (named by the kind: segmenter.safetensors / .json)."""
    if path.name != f"{SegmenterNet.file_stem}.safetensors":
        raise FacepipeError(f"{path}: a segmenter is saved as {SegmenterNet.file_stem}.safetensors in its folder")
    return save_model(net, path.parent, record)


def _fuse(block: nn.Sequential) -> nn.Sequential:
    """Each convolution followed by batch norm becomes one convolution (eval mode: the same output)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers, out = list(block), []
    while layers:
        layer = layers.pop(0)
        if isinstance(layer, nn.Conv2d) and layers and isinstance(layers[0], nn.BatchNorm2d):
            layer = fuse_conv_bn_eval(layer, layers.pop(0))
        out.append(layer)
    return nn.Sequential(*out)


def fused_for_inference(net: SegmenterNet) -> SegmenterNet:
    """``net`` (in eval mode) with its batch norms folded into the convolutions before them: a tenth
    fewer milliseconds per face on a CPU, outputs equal to 1e-5."""
    net.stem = _fuse(net.stem)
    net.enc = nn.ModuleList([_fuse(block) for block in net.enc])
    net.dec = nn.ModuleList([_fuse(block) for block in net.dec])
    return net


class Segmenter:
    """Inference wrapper: aligned crops in, visible-face masks out (at the crops' size)."""

    def __init__(self, path: str | Path = BUNDLED_SEGMENTER, device: str = "cpu") -> None:
        if not Path(path).is_file():
            raise FacepipeError(f"occlusion segmenter not found: {path} (set blend.occlusion_model, or "
                                f"blend.occlusion = \"none\")")
        loaded = load_model_file(path, kind="segmenter")
        self.net: SegmenterNet = fused_for_inference(loaded.net.eval()).to(device)
        self.device = torch.device(device)
        self.resolution = self.net.resolution
        self.card = loaded.card
        self.contract = loaded.contract

    def visible(self, crop: np.ndarray) -> np.ndarray:
        """The visible-face mask of one crop."""
        return self([crop])[0]

    @torch.inference_mode()
    def __call__(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        if not crops:
            return []
        x = to_input(crops, self.contract, self.device)
        probs = torch.sigmoid(self.net(x))[:, 0].cpu().numpy()
        return [cv2.resize(p, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR) for p, c in zip(probs, crops)]
