"""PatchGAN discriminator: judges overlapping patches of a face crop as real or generated.

A patch discriminator looks at texture (the thing a small generator gets wrong) rather than
global layout, and it is cheap. One per identity. Its sigmoid output, averaged over patches, is a
probability that the crop is a real photo of that identity, which the occlusion-attack stage uses
as a real/fake classifier (see :meth:`models.checkpoint.SwapModel.score`).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """Crop (N,3,R,R) in [0,1] -> per-patch probability real (N,1,R/8,R/8)."""

    def __init__(self, resolution: int, width: int = 32) -> None:
        super().__init__()
        # Three stride-2 steps at any resolution: patches of ~1/8 of the crop at 64 px, finer at 256.
        chans = [width, width * 2, width * 4]
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(chans):
            layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        if resolution >= 128:  # keep the receptive field a similar fraction of the face
            layers += [nn.Conv2d(cin, cin, 4, stride=2, padding=1), nn.InstanceNorm2d(cin, affine=True),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x * 2.0 - 1.0))

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """One number per crop: mean patch probability of being real."""
        return self.forward(x).mean(dim=(1, 2, 3))
