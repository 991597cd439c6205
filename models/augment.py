"""Training augmentation, done in torch on whole batches (fast on CPU and GPU alike).

Random affine (rotate, zoom, shift) and horizontal flips widen pose coverage of a small faceset.
Colour jitter is applied identically to input and target so the model learns to keep the input's
colour rather than the faceset's average. The *random warp* is the deepfakes trick: the network sees
a smoothly distorted face and must reproduce the undistorted one, so it cannot copy pixels and has to
learn a face model, which is what lets decoder B paint B onto A's pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass
class AugmentSettings:
    rotate_deg: float = 10.0
    zoom: float = 0.05
    shift: float = 0.05
    flip: float = 0.5
    warp: float = 0.05  # std of grid-point displacement as a fraction of the crop
    jitter: float = 0.08  # brightness/contrast/channel-gain amplitude


def random_affine(batch: torch.Tensor, s: AugmentSettings, generator: torch.Generator | None = None) -> torch.Tensor:
    """Same random rotate/zoom/shift/flip for all channels of each sample (image and mask stay aligned)."""
    n = batch.shape[0]
    dev = batch.device

    def uni(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=dev) * (high - low) + low

    angle = uni(-s.rotate_deg, s.rotate_deg) * math.pi / 180
    scale = 1.0 / uni(1 - s.zoom, 1 + s.zoom)
    flip = torch.where(torch.rand(n, generator=generator, device=dev) < s.flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, uni(-s.shift, s.shift) * 2], dim=1),
        torch.stack([sin * flip, cos, uni(-s.shift, s.shift) * 2], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_warp(images: torch.Tensor, amount: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Smooth random distortion: a 5x5 grid of random offsets, upsampled to a dense flow field."""
    n, _, h, w = images.shape
    dev = images.device
    offsets = torch.randn(n, 2, 5, 5, generator=generator, device=dev) * (amount * 2)
    offsets[:, :, [0, -1], :] = 0  # keep the border fixed, as the deepfakes warp does
    offsets[:, :, :, [0, -1]] = 0
    flow = F.interpolate(offsets, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=dev), torch.linspace(-1, 1, w, device=dev), indexing="ij")
    base = torch.stack([xs, ys], dim=-1).expand(n, h, w, 2)
    return F.grid_sample(images, base + flow, mode="bilinear", padding_mode="border", align_corners=True)


def colour_jitter(images: torch.Tensor, amount: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast and per-channel gain; returns values clamped to [0,1]."""
    n = images.shape[0]
    dev = images.device
    bright = (torch.rand(n, 1, 1, 1, generator=generator, device=dev) * 2 - 1) * amount
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator, device=dev) * 2 - 1) * amount
    gain = 1 + (torch.rand(n, 3, 1, 1, generator=generator, device=dev) * 2 - 1) * amount / 2
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean + bright).mul(gain).clamp(0, 1)


def make_pair(batch: torch.Tensor, s: AugmentSettings, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,4,H,W) BGRA in [0,1] -> (warped input, target, target mask)."""
    warped, image, mask, _ = make_pair_with_maps(batch, s, generator)
    return warped, image, mask


def make_pair_with_maps(batch: torch.Tensor, s: AugmentSettings, generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,4+K,H,W) BGRA plus K maps (eyes and mouth, say) in [0,1] -> (warped input, target, target mask,
    the K maps); the maps move with the face through the affine step and are left out of the colour steps."""
    moved = random_affine(batch, s, generator)
    image = colour_jitter(moved[:, :3], s.jitter, generator) if s.jitter > 0 else moved[:, :3]
    mask = moved[:, 3:4]
    warped = random_warp(image, s.warp, generator) if s.warp > 0 else image
    return warped, image, mask, moved[:, 4:]
