"""MesoInception-4 (Afchar et al., 2018): two inception blocks with dilated branches, then Meso-4's tail.

Inception block (a, b, c, d): 1x1 -> a; 1x1 -> 3x3 -> b; 1x1 -> 3x3 dilated 2 -> c; 1x1 -> 3x3
dilated 3 -> d; concatenated, BN, max-pool 2. The paper's blocks are (1,4,4,2) and (2,4,4,2), then
conv 5x5x16 BN pool 2, conv 5x5x16 BN pool 4, and the same dense head as Meso-4. Input 256x256.
"""

from __future__ import annotations

import torch
from torch import nn

from models.detectors.base import DetectorNet

from models.detectors.meso4 import conv_block


class Inception(nn.Module):
    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(cin, a, 1)
        self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), nn.ReLU(inplace=True), nn.Conv2d(b, b, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=2, dilation=2))
        self.b4 = nn.Sequential(nn.Conv2d(cin, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, d, 3, padding=3, dilation=3))
        self.post = nn.Sequential(nn.ReLU(inplace=True), nn.BatchNorm2d(a + b + c + d), nn.MaxPool2d(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))


class MesoInception4(DetectorNet):
    architecture = "mesoinception4"
    INPUT_SIZE = 256

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(Inception(3, 1, 4, 4, 2), Inception(11, 2, 4, 4, 2), conv_block(12, 16, 5, 2),
                                      conv_block(16, 16, 5, 4))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 8 * 8, 16), nn.LeakyReLU(0.1),
                                  nn.Dropout(0.5), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
