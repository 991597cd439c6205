"""Meso-4 as laid out in the MesoNet paper (Afchar et al., WIFS 2018), not DeepfakeBench's port.

Each convolution has its own batch norm (the DeepfakeBench port reuses one BN module for two
layers). Input 256x256 RGB; 27,977 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from models.detectors.base import DetectorNet


def conv_block(cin: int, cout: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv (same padding) -> ReLU -> BN -> max-pool, as in the paper's Keras code."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU(inplace=True),
                         nn.BatchNorm2d(cout), nn.MaxPool2d(pool, pool))


class Meso4(DetectorNet):
    """Four conv blocks (8, 8, 16, 16 filters), dropout, dense 16, LeakyReLU 0.1, dropout, dense 1."""

    architecture = "meso4"

    INPUT_SIZE = 256

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(conv_block(3, 8, 3, 2), conv_block(8, 8, 5, 2), conv_block(8, 16, 5, 2),
                                      conv_block(16, 16, 5, 4))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * 8 * 8, 16), nn.LeakyReLU(0.1),
                                  nn.Dropout(0.5), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
