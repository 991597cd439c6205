"""XceptionMini: a small Xception-style network that trains from scratch on a CPU.

Why this one: Xception is the strongest classic frame detector on FF++ (DeepfakeBench: frame AUC
0.96 at c23) but needs ImageNet weights and a GPU. This keeps its ingredients -- depthwise separable
convolutions in residual blocks, batch norm, global average pooling -- at ~0.2 M parameters on
160x160 crops. The first stride-2 convolution keeps full-resolution texture statistics (where
blending and up-sampling artefacts live) before the image is shrunk.
"""

from __future__ import annotations

import torch
from torch import nn

from models.detectors.base import DetectorNet


class SeparableConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.BatchNorm2d(cout))


class Block(nn.Module):
    """Two separable convs and a stride-2 pool, with a 1x1 stride-2 shortcut (Xception's middle flow)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), SeparableConv(cin, cout), nn.ReLU(inplace=True), SeparableConv(cout, cout),
                                  nn.MaxPool2d(3, 2, padding=1))
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class XceptionMini(DetectorNet):
    architecture = "xceptionmini"
    INPUT_SIZE = 160

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(24),
                                  nn.ReLU(inplace=True), nn.Conv2d(24, 32, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(32))
        self.blocks = nn.Sequential(Block(32, 64), Block(64, 128), Block(128, 192), Block(192, 256))
        self.head = nn.Sequential(nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                                  nn.Linear(256, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.25
        return self.head(self.blocks(self.stem(x))).squeeze(1)
